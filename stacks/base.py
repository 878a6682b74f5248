"""What every Berth stack shares: its state backend, its AWS provider and the synth guards.

Real accounts keep each stack's state in S3 (encrypted, with an S3 lock file, one key per
stack) and reach both the state and the account through the environment's deploy role, so an
operator or CI job needs nothing but the right to assume that role. The emulator environment
keeps local state and points the provider at the emulator.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import (
    LocalBackend,
    S3Backend,
    S3BackendAssumeRoleConfig,
    TerraformOutput,
    TerraformStack,
    TerraformVariable,
)
from cdktf_cdktf_provider_aws.provider import (
    AwsProvider,
    AwsProviderAssumeRole,
    AwsProviderDefaultTags,
    AwsProviderEndpoints,
)
from constructs import Construct

from berth_constructs.eks_cluster_access import (
    EXEC_API_VERSION,
    EksClusterAccess,
    EksClusterAccessProps,
)
from berth_constructs.external_cluster_access import (
    ExternalClusterAccess,
    ExternalClusterAccessProps,
)
from berth_constructs.guards import add_guards
from berth_core.config import Environment

# AWS services the stacks use; in the emulator environment each is pointed at the emulator.
EMULATED_SERVICES = ("appconfig", "ecr", "iam", "kms", "s3", "secretsmanager", "sts")

# The emulator environment keeps its state at the project root (git-ignored), outside
# cdktf.out/, which every synth rewrites.
LOCAL_STATE_PATH = "../../../terraform.{name}.tfstate"


class BerthStack(TerraformStack):
    """A stack of `environment` named `name`, with its backend, AWS provider and guards."""

    def __init__(self, scope: Construct, environment: Environment, name: str) -> None:
        super().__init__(scope, name)
        self.environment = environment
        # The one place that decides whether this stack's resources may go with their contents
        # (buckets with objects, repositories with images, secrets without a recovery window,
        # users with keys made outside Terraform): only in the emulator, which `berth down`
        # empties. Every construct's `allow_force_*`/`allow_immediate_deletion` takes this.
        self.disposable: bool = environment.emulator
        self._configure_backend(name)
        self._configure_aws_provider()
        # Synthesis fails if a bucket lacks encryption or a public-access block, tags are lost,
        # or an IAM ARN of the account is named without being created or looked up.
        add_guards(self, account_id=environment.account_id)

    @property
    def deploy_role(self) -> S3BackendAssumeRoleConfig | None:
        """How the backend and remote-state reads assume the deploy role (None: emulator)."""
        role = self.environment.deploy_role
        if role is None:
            return None
        return S3BackendAssumeRoleConfig(
            role_arn=role.role_arn, session_name=role.session_name, external_id=role.external_id
        )

    def output(self, name: str, value: str, description: str) -> None:
        """A stack output; each one says what it is for."""
        TerraformOutput(self, name, value=value, description=description)

    def outputs(self, source: object, outputs: Mapping[str, tuple[str, str]]) -> None:
        """Stack outputs from a construct's attributes: output name -> (attribute, description).
        An attribute that is None (a part the construct was told not to create) has none."""
        for name, (attribute, description) in outputs.items():
            value = getattr(source, attribute)
            if value is not None:
                self.output(name, value, description)

    def cluster_access(self, *, kubernetes: bool, helm: bool) -> Construct:
        """The providers that reach the cluster: EKS as the deploy role, or an external cluster
        the way its environment file says (a kubeconfig context or an exec plugin)."""
        environment = self.environment
        external = environment.external_cluster
        if external is not None:
            access = external.exec
            return ExternalClusterAccess(
                self,
                "cluster",
                ExternalClusterAccessProps(
                    config_path=external.kubeconfig.path if external.kubeconfig else None,
                    config_context=external.kubeconfig.context if external.kubeconfig else None,
                    host=access.host if access else None,
                    cluster_ca_certificate=access.certificate_authority_pem if access else None,
                    exec_command=access.command if access else None,
                    exec_args=access.args if access else (),
                    exec_api_version=access.api_version if access else EXEC_API_VERSION,
                    enable_kubernetes_provider=kubernetes,
                    enable_helm_provider=helm,
                ),
            )
        cluster = environment.cluster
        if cluster is None:
            raise ValueError(f"{environment.name}: no cluster")
        remote_state = cluster.remote_state
        return EksClusterAccess(
            self,
            "cluster",
            EksClusterAccessProps(
                cluster_name=cluster.name,
                region=environment.region,
                oidc_issuer_url=cluster.oidc_issuer_url,
                facts_source=cluster.facts_source,
                remote_state_bucket=remote_state.bucket if remote_state else None,
                remote_state_key=remote_state.key if remote_state else None,
                remote_state_region=remote_state.region if remote_state else None,
                endpoint_output=remote_state.endpoint_output
                if remote_state
                else "cluster_endpoint",
                certificate_authority_output=(
                    remote_state.certificate_authority_output
                    if remote_state
                    else "cluster_certificate_authority_data"
                ),
                token_role_arn=environment.deploy_role.role_arn
                if environment.deploy_role
                else None,
                remote_state_assume_role=self.deploy_role,
                enable_kubernetes_provider=kubernetes,
                enable_helm_provider=helm,
            ),
        )

    def _configure_backend(self, name: str) -> None:
        environment = self.environment
        backend = environment.state_backend
        if backend is None:
            LocalBackend(self, path=LOCAL_STATE_PATH.format(name=name))
            return
        s3_backend = S3Backend(
            self,
            bucket=backend.bucket,
            key=environment.state_key(name),
            region=backend.region,
            encrypt=True,
            kms_key_id=backend.kms_key_id,
            assume_role=self.deploy_role,
        )
        # cdktf 0.21's S3Backend has no `use_lockfile`; Terraform >= 1.10 locks with an S3 object.
        s3_backend.add_override("use_lockfile", True)

    def _configure_aws_provider(self) -> None:
        environment = self.environment
        settings: dict[str, object] = {}
        if environment.deploy_role is not None:
            settings = {
                # The account guard needs the caller's account id, which the emulator is not asked for.
                "allowed_account_ids": [environment.account_id],
                "assume_role": [
                    AwsProviderAssumeRole(
                        role_arn=environment.deploy_role.role_arn,
                        session_name=environment.deploy_role.session_name,
                        external_id=environment.deploy_role.external_id,
                    )
                ],
            }
        if environment.emulator:
            endpoint = TerraformVariable(
                self,
                "emulator_endpoint",
                type="string",
                nullable=False,
                description="URL of the AWS emulator (moto server) that `berth up` started",
            ).string_value
            settings = {
                "endpoints": [AwsProviderEndpoints(**{s: endpoint for s in EMULATED_SERVICES})],
                # The account id comes from the emulator's STS (123456789012): AppConfig ARNs,
                # which the provider builds to tag resources, need it.
                "skip_credentials_validation": True,
                "skip_metadata_api_check": "true",
                "s3_use_path_style": True,
            }
        AwsProvider(
            self,
            "aws",
            region=environment.region,
            default_tags=[AwsProviderDefaultTags(tags=environment.default_tags)],
            **settings,  # type: ignore[arg-type]
        )
