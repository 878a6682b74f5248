"""One stack per environment: backend, provider and the constructs the environment file asks for."""

from __future__ import annotations

from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack, TerraformVariable
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints
from constructs import Construct

from berth.config import Environment
from berth_constructs.helm_repo_bucket import HelmRepoBucket, HelmRepoBucketProps

# AWS services the stacks use; in the emulator environment each is pointed at moto.
EMULATED_SERVICES = ("appconfig", "ecr", "iam", "kms", "s3", "secretsmanager", "sts")

# The emulator environment keeps its state at the project root (git-ignored), outside
# cdktf.out/, which every synth rewrites.
LOCAL_STATE_PATH = "../../../terraform.{name}.tfstate"


class EnvironmentStack(TerraformStack):
    """The stack named after its environment, so `cdktf deploy uat` deploys uat."""

    def __init__(self, scope: Construct, environment: Environment) -> None:
        super().__init__(scope, environment.name)
        self._configure_backend(environment)
        self._configure_aws_provider(environment)

        helm_repo = HelmRepoBucket(
            self,
            "helm-repo",
            HelmRepoBucketProps(
                bucket_name=environment.helm_repo_bucket_name,
                publisher_principals=environment.helm_repo.publisher_principals,
                reader_principals=environment.helm_repo.reader_principals
                or [environment.account_root_arn],
                noncurrent_version_expiration_days=environment.helm_repo.noncurrent_version_expiration_days,
                allow_force_destroy=environment.emulator,
                omit_conditional_denies_for_emulator=environment.emulator,
            ),
        )
        TerraformOutput(
            self, "helm_repo_bucket_name", value=helm_repo.bucket_name,
            description="S3 bucket holding the Helm chart repository",
        )
        TerraformOutput(
            self, "helm_repo_bucket_arn", value=helm_repo.bucket_arn,
            description="ARN of the Helm chart repository bucket",
        )
        TerraformOutput(
            self, "helm_repo_bucket_region", value=helm_repo.bucket_region,
            description="Region of the Helm chart repository bucket",
        )
        TerraformOutput(
            self, "helm_repo_url", value=helm_repo.repo_url,
            description="Repository URL for helm-s3 style clients; `berth charts publish` writes here",
        )

    def _configure_backend(self, environment: Environment) -> None:
        backend = environment.state_backend
        if backend is None:
            LocalBackend(self, path=LOCAL_STATE_PATH.format(name=environment.name))
            return
        s3_backend = S3Backend(
            self,
            bucket=backend.bucket,
            key=environment.state_key,
            region=backend.region,
            encrypt=True,
            kms_key_id=backend.kms_key_id,
        )
        # cdktf 0.21's S3Backend has no `use_lockfile`; Terraform >= 1.10 locks with an S3 object.
        s3_backend.add_override("use_lockfile", True)

    def _configure_aws_provider(self, environment: Environment) -> None:
        # The account guard needs the caller's account id, which the emulator is not asked for.
        emulator_settings: dict[str, object] = {"allowed_account_ids": [environment.account_id]}
        if environment.emulator:
            endpoint = TerraformVariable(
                self,
                "emulator_endpoint",
                type="string",
                nullable=False,
                description="URL of the AWS emulator (moto server) that `berth up` started",
            ).string_value
            emulator_settings = {
                "endpoints": [AwsProviderEndpoints(**{s: endpoint for s in EMULATED_SERVICES})],
                "skip_credentials_validation": True,
                "skip_requesting_account_id": True,
                "skip_metadata_api_check": "true",
                "s3_use_path_style": True,
            }
        AwsProvider(
            self,
            "aws",
            region=environment.region,
            default_tags=[AwsProviderDefaultTags(tags=environment.default_tags)],
            **emulator_settings,  # type: ignore[arg-type]
        )
