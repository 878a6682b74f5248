"""One stack per environment: backend, provider and the constructs the environment file asks for."""

from __future__ import annotations

from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack, TerraformVariable
from cdktf_cdktf_provider_aws.provider import (
    AwsProvider,
    AwsProviderAssumeRole,
    AwsProviderDefaultTags,
    AwsProviderEndpoints,
)
from constructs import Construct

from berth.config import PROJECT_ROOT, Environment
from berth_constructs.ci_identities import CiIdentities, CiIdentitiesProps
from berth_constructs.ecr_registry import EcrRegistry, EcrRegistryProps
from berth_constructs.eks_cluster_access import EksClusterAccess, EksClusterAccessProps
from berth_constructs.guards import add_guards
from berth_constructs.helm_chart import ChartSource
from berth_constructs.helm_repo_bucket import HelmRepoBucket, HelmRepoBucketProps
from berth_constructs.otel_agent_release import ImageRef, OtelAgentRelease, OtelAgentReleaseProps
from berth_constructs.s3_proxy_release import S3ProxyRelease, S3ProxyReleaseProps
from berth_constructs.secret_app_config import SecretAppConfig, SecretAppConfigProps

# Runtime apps whose images each environment keeps in its own ECR repository.
APP_IMAGES = ("s3proxy", "ecr-refresher", "appconfig-fetch")

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
        if environment.cluster is not None:
            self._configure_cluster_access(environment)

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
            self,
            "helm_repo_bucket_name",
            value=helm_repo.bucket_name,
            description="S3 bucket holding the Helm chart repository",
        )
        TerraformOutput(
            self,
            "helm_repo_bucket_arn",
            value=helm_repo.bucket_arn,
            description="ARN of the Helm chart repository bucket",
        )
        TerraformOutput(
            self,
            "helm_repo_bucket_region",
            value=helm_repo.bucket_region,
            description="Region of the Helm chart repository bucket",
        )
        TerraformOutput(
            self,
            "helm_repo_url",
            value=helm_repo.repo_url,
            description="Repository URL for helm-s3 style clients; `berth charts publish` writes here",
        )
        if environment.ci is not None:
            self._configure_ci_identities(environment, helm_repo)
        images = self._add_image_repositories(environment) if environment.images else {}
        if environment.observability is not None:
            self._add_observability(environment, images)
        if environment.s3_proxy is not None:
            self._add_s3_proxy(environment, images)
        # Synthesis fails if a bucket lacks encryption or a public-access block, or tags are lost.
        add_guards(self)

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
            **settings,  # type: ignore[arg-type]
        )

    def _configure_cluster_access(self, environment: Environment) -> None:
        cluster = environment.cluster
        assert cluster is not None
        remote_state = cluster.remote_state
        EksClusterAccess(
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
            ),
        )

    def _configure_ci_identities(self, environment: Environment, helm_repo: HelmRepoBucket) -> None:
        ci, backend, deploy_role = (
            environment.ci,
            environment.state_backend,
            environment.deploy_role,
        )
        assert (
            ci is not None and backend is not None and deploy_role is not None
        )  # config validates
        cluster_state = environment.cluster.remote_state if environment.cluster else None
        identities = CiIdentities(
            self,
            "ci",
            CiIdentitiesProps(
                repository=ci.repository,
                environment_name=environment.name,
                name_prefix=environment.name_prefix,
                region=environment.region,
                helm_repo_bucket_arn=helm_repo.bucket_arn,
                helm_repo_kms_key_arn=helm_repo.kms_key_arn,
                deploy_role_arn=deploy_role.role_arn,
                state_bucket=backend.bucket,
                state_key=environment.state_key,
                state_region=backend.region,
                state_kms_key_arn=backend.kms_key_id,
                readable_state_object_arns=(
                    [f"arn:aws:s3:::{cluster_state.bucket}/{cluster_state.key}"]
                    if cluster_state
                    else []
                ),
                publisher_subject=ci.publisher_subject,
                deploy_subject=ci.deploy_subject,
                create_oidc_provider=ci.create_oidc_provider,
                oidc_provider_arn=ci.oidc_provider_arn,
            ),
        )
        TerraformOutput(
            self,
            "ci_publisher_role_arn",
            value=identities.publisher_role_arn,
            description="Role CI assumes (GitHub OIDC) to publish charts; variable CI_PUBLISHER_ROLE_ARN",
        )
        TerraformOutput(
            self,
            "ci_deployer_role_arn",
            value=identities.deployer_role_arn,
            description="Role CI assumes (GitHub OIDC) to deploy this environment; variable CI_DEPLOYER_ROLE_ARN",
        )
        TerraformOutput(
            self,
            "ci_oidc_provider_arn",
            value=identities.oidc_provider_arn,
            description="The account's IAM OIDC provider for GitHub Actions",
        )

    def _add_image_repositories(self, environment: Environment) -> dict[str, EcrRegistry]:
        images = environment.images
        assert images is not None
        registries = {}
        for app in APP_IMAGES:
            registries[app] = EcrRegistry(
                self,
                f"image-{app}",
                EcrRegistryProps(
                    repository_name=f"{environment.name_prefix}/{app}",
                    push_principals=images.push_principals,
                    pull_principals=images.pull_principals or [environment.account_root_arn],
                    allow_force_delete=environment.emulator,
                ),
            )
            TerraformOutput(
                self,
                f"image_{app.replace('-', '_')}_repository_url",
                value=registries[app].repository_url,
                description=f"ECR repository of the {app} image (CI pushes tag {images.tag})",
            )
        return registries

    def _add_observability(self, environment: Environment, images: dict[str, EcrRegistry]) -> None:
        observability = environment.observability
        assert observability is not None
        private_key = SecretAppConfig(
            self,
            "coralogix-key",
            SecretAppConfigProps(
                name=observability.secret_name,
                name_prefix=environment.name_prefix,
                environment_name=environment.name,
                account_id=environment.account_id,
                region=environment.region,
                # Set with `berth secret put ENV NAME` from stdin: never in a plan or state.
                value_source="out_of_band",
                description="Coralogix private key the OpenTelemetry agent exports with",
                # moto has no AppConfig environments or deployments.
                create_appconfig_deployment=not environment.emulator,
                allow_immediate_deletion=environment.emulator,
            ),
        )
        TerraformOutput(
            self,
            "coralogix_key_secret_name",
            value=private_key.secret_name,
            description="Secret to fill with `berth secret put ENV NAME` (stdin only)",
        )
        TerraformOutput(
            self,
            "coralogix_key_appconfig_application_id",
            value=private_key.application_id,
            description="AppConfig application delivering the Coralogix key",
        )
        TerraformOutput(
            self,
            "coralogix_key_retrieval_role_arn",
            value=private_key.retrieval_role_arn,
            description="Role AppConfig assumes to read the Coralogix key (GetSecretValue on it only)",
        )
        if environment.cluster is None:
            return
        fetcher = images.get("appconfig-fetch")
        release = OtelAgentRelease(
            self,
            "otel-agent",
            OtelAgentReleaseProps(
                private_key=private_key,
                role_name=f"{environment.name_prefix}-otel-agent",
                oidc_provider_arn=environment.oidc_provider_arn,
                region=environment.region,
                coralogix_domain=observability.coralogix_domain,
                namespace=observability.namespace,
                mode=observability.mode,
                json_key=observability.json_key,
                coralogix_application_name=environment.name_prefix,
                fetcher_image=(
                    ImageRef(repository=fetcher.repository_url, tag=environment.images.tag)
                    if fetcher is not None and environment.images is not None
                    else None
                ),
            ),
        )
        TerraformOutput(
            self,
            "otel_agent_role_arn",
            value=release.role_arn,
            description="IRSA role of the OpenTelemetry agent (reads the key through AppConfig only)",
        )

    def _add_s3_proxy(self, environment: Environment, images: dict[str, EcrRegistry]) -> None:
        proxy, images_config = environment.s3_proxy, environment.images
        assert proxy is not None and images_config is not None
        release = S3ProxyRelease(
            self,
            "s3proxy",
            S3ProxyReleaseProps(
                bucket_name=environment.s3_proxy_bucket_name,
                host=proxy.host,
                image=images["s3proxy"].image(tag=images_config.tag),
                chart=ChartSource(path=PROJECT_ROOT / "charts" / "s3proxy"),
                oidc_provider_arn=environment.oidc_provider_arn,
                role_name=f"{environment.name_prefix}-s3proxy",
                htpasswd_secret_name=proxy.htpasswd_secret_name,
                tls_secret_name=proxy.tls_secret_name,
                allow_self_signed_tls=proxy.allow_self_signed_tls,
                prefix=proxy.prefix,
                index_document=proxy.index_document,
                namespace=proxy.namespace,
                ingress_class_name=proxy.ingress_class_name,
            ),
        )
        TerraformOutput(
            self,
            "s3proxy_bucket_name",
            value=release.bucket_name,
            description="Private bucket the S3 proxy serves",
        )
        TerraformOutput(
            self,
            "app_url_example",
            value=release.example_url,
            description="An example URL served by the S3 proxy (basic auth)",
        )
