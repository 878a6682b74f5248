"""The account stack (`uat`): every AWS resource of the environment, and nothing in the cluster.

It is the first step of a deploy and needs only the account (plus the bootstrap: state bucket,
deploy role, and the cluster's IAM OIDC provider unless the file lets the stack create it).
Everything it names exists by then: the roles it creates, or things looked up at plan time.
"""

from __future__ import annotations

import re

from constructs import Construct

from berth_constructs.chart_reader_policy import (
    ChartReaderPolicy,
    ChartReaderPolicyProps,
    ChartRepositoryGrant,
)
from berth_constructs.ci_identities import CiIdentities, CiIdentitiesProps
from berth_constructs.cluster_oidc_provider import ClusterOidcProvider, ClusterOidcProviderProps
from berth_constructs.ecr_client_identity import EcrClientIdentity, EcrClientIdentityProps
from berth_constructs.ecr_registry import EcrRegistry, EcrRegistryProps, RefresherTrust
from berth_constructs.eks_cluster_access import cluster_state
from berth_constructs.helm_repo_bucket import HelmRepoBucket, HelmRepoBucketProps
from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.lookups import existing_role_arn, existing_role_name, external_principals
from berth_constructs.s3_proxy_bucket import S3ProxyBucket, S3ProxyBucketProps
from berth_constructs.secret_app_config import SecretAppConfig, SecretAppConfigProps
from berth_core.config import ChartRepositoryLocation, Environment
from berth_core.naming import CredentialsRelease, WorkloadIdentity, bucket_arn
from stacks.base import BerthStack

# Stack outputs of the compositions below: output name -> (attribute, description).
CI_OUTPUTS = {
    "ci_publisher_role_arn": (
        "publisher_role_arn",
        "Role CI assumes (GitHub OIDC) to publish charts; variable CI_PUBLISHER_ROLE_ARN",
    ),
    "ci_image_publisher_role_arn": (
        "image_publisher_role_arn",
        "Role CI assumes (GitHub OIDC) to push images; variable CI_IMAGE_PUBLISHER_ROLE_ARN",
    ),
    "ci_deployer_role_arn": (
        "deployer_role_arn",
        "Role CI assumes (GitHub OIDC) to deploy this environment; variable CI_DEPLOYER_ROLE_ARN",
    ),
    "ci_oidc_provider_arn": (
        "oidc_provider_arn",
        "The account's IAM OIDC provider for GitHub Actions",
    ),
}
HELM_REPO_OUTPUTS = {
    "helm_repo_bucket_name": ("bucket_name", "S3 bucket holding the Helm chart repository"),
    "helm_repo_bucket_arn": ("bucket_arn", "ARN of the Helm chart repository bucket"),
    "helm_repo_bucket_region": ("bucket_region", "Region of the Helm chart repository bucket"),
    "helm_repo_url": (
        "repo_url",
        "Repository URL for helm-s3 style clients; `berth charts publish` writes here",
    ),
    "helm_repo_kms_key_arn": (
        "kms_key_arn",
        "KMS key of the chart repository: readers name it (helm_repo.central.kms_key_arn)",
    ),
}
CHART_READER_OUTPUTS = {
    "chart_reader_policy_arn": (
        "policy_arn",
        "IAM policy that reads this environment's chart repositories (attach it to more readers)",
    ),
}
CORALOGIX_KEY_OUTPUTS = {
    "coralogix_key_secret_name": (
        "secret_name",
        "Secret to fill with `berth secret put ENV NAME` (stdin only)",
    ),
    "coralogix_key_appconfig_application_id": (
        "application_id",
        "AppConfig application delivering the Coralogix key",
    ),
    "coralogix_key_retrieval_role_arn": (
        "retrieval_role_arn",
        "Role AppConfig assumes to read the Coralogix key (GetSecretValue on it only)",
    ),
}
OTEL_AGENT_OUTPUTS = {
    "otel_agent_role_arn": (
        "role_arn",
        "IRSA role of the OpenTelemetry agent (reads the key through AppConfig only)",
    ),
}
S3_PROXY_OUTPUTS = {
    "s3proxy_bucket_name": ("bucket_name", "Private bucket the S3 proxy serves"),
    "s3proxy_role_arn": (
        "role_arn",
        "IRSA role of the S3 proxy (reads the bucket below its prefix only)",
    ),
}


class AccountStack(BerthStack):
    """Named after its environment, so `cdktf deploy uat` deploys uat's AWS resources."""

    def __init__(self, scope: Construct, environment: Environment) -> None:
        super().__init__(scope, environment, environment.stacks.account)
        self._ci = self._add_ci_identities() if environment.ci is not None else None
        self._add_helm_repo()
        if environment.images is not None:
            registries = self._add_image_repositories()
            if environment.ecr_refresher is not None:
                self._add_registry_clients(registries)
        if environment.observability is not None:
            self._add_observability()
        if environment.s3_proxy is not None:
            self._add_s3_proxy_bucket()

    def _external(self, id_prefix: str, principals: list[str]) -> list[str]:
        """Principals named in the file, with this account's roles looked up at plan time."""
        return external_principals(self, id_prefix, principals, self.environment.account_id)

    def _add_ci_identities(self) -> CiIdentities:
        environment = self.environment
        ci = environment.ci
        assert ci is not None
        deploy_role = environment.deploy_role_name
        identities = CiIdentities(
            self,
            "ci",
            CiIdentitiesProps(
                repository=ci.repository,
                environment_name=environment.name,
                name_prefix=environment.name_prefix,
                region=environment.region,
                # Looked up: the bootstrap creates it; planning stops, naming it, when it does not.
                deploy_role_arn=existing_role_arn(self, "deploy-role", deploy_role)
                if deploy_role
                else None,
                create_chart_publisher=environment.helm_repo.owns_repository,
                create_image_publisher=environment.images is not None,
                publisher_subject=ci.publisher_subject,
                deploy_subject=ci.deploy_subject,
                create_oidc_provider=ci.create_oidc_provider,
                oidc_provider_arn=ci.oidc_provider_arn,
            ),
        )
        self.outputs(identities, CI_OUTPUTS)
        return identities

    def _add_helm_repo(self) -> None:
        environment = self.environment
        config = environment.helm_repo
        location = environment.chart_repository
        grants: list[ChartRepositoryGrant] = []
        if location is not None:
            helm_repo = self._add_own_helm_repo(location)
            grants.append(
                ChartRepositoryGrant(
                    name="Own",
                    bucket_arn=helm_repo.bucket_arn,
                    prefix=location.prefix,
                    kms_key_arn=helm_repo.kms_key_arn,
                    region=location.region,
                )
            )
        central = config.central
        if central is not None:
            central_location = central.location
            grants.append(
                ChartRepositoryGrant(
                    name="Central",
                    bucket_arn=bucket_arn(central_location.bucket),
                    prefix=central_location.prefix,
                    kms_key_arn=central.kms_key_arn,
                    region=central_location.region,
                )
            )
            self.output(
                "central_helm_repo_url",
                central_location.url,
                "The central chart repository this environment reads (and promotes from)",
            )
        readers = self._chart_reader_roles(promotes=central is not None and location is not None)
        if readers:
            policy = ChartReaderPolicy(
                self,
                "chart-reader",
                ChartReaderPolicyProps(
                    policy_name=environment.chart_reader_policy_name,
                    repositories=grants,
                    roles=readers,
                ),
            )
            self.outputs(policy, CHART_READER_OUTPUTS)

    def _chart_reader_roles(self, *, promotes: bool) -> dict[str, str]:
        """Label -> role name of every role that reads charts: the CI deployer, the CI chart
        publisher when it promotes from the central repository, and the file's reader roles
        (looked up: planning stops, naming one, when it does not exist)."""
        roles: dict[str, str] = {}
        if self._ci is not None and self._ci.deployer_role_name is not None:
            roles["deployer"] = self._ci.deployer_role_name
        if promotes and self._ci is not None and self._ci.publisher_role_name is not None:
            roles["chart-publisher"] = self._ci.publisher_role_name
        for arn in self.environment.helm_repo.reader_roles:
            name = arn.rsplit("/", 1)[-1]
            label = re.sub(r"[^a-z0-9-]+", "-", f"reader-{name.lower()}")[:63].rstrip("-")
            roles[label] = existing_role_name(self, f"chart-reader-{name}", name)
        return roles

    def _add_own_helm_repo(self, location: ChartRepositoryLocation) -> HelmRepoBucket:
        environment = self.environment
        config = environment.helm_repo
        publishers = self._external("chart-publisher", config.publisher_principals)
        if self._ci is not None and self._ci.publisher_role_arn is not None:
            publishers.append(self._ci.publisher_role_arn)
        readers = config.readers
        helm_repo = HelmRepoBucket(
            self,
            "helm-repo",
            HelmRepoBucketProps(
                bucket_name=location.bucket,
                account_id=environment.account_id,
                region=location.region,
                publisher_principals=publishers,
                # The account reads (its IAM policies decide who: the chart-reader policy);
                # other accounts' principals are named literally, as the file gives them.
                reader_principals=[environment.account_root_arn, *readers.principals],
                reader_organization_id=readers.organization_id,
                reader_organization_paths=readers.organization_paths,
                prefix=location.prefix,
                noncurrent_version_expiration_days=config.noncurrent_version_expiration_days,
                allow_force_destroy=self.disposable,
            ),
        )
        if self._ci is not None and self._ci.publisher_role_arn is not None:
            self._ci.grant_chart_publish(
                helm_repo.bucket_arn, helm_repo.kms_key_arn, location.prefix
            )
        self.outputs(helm_repo, HELM_REPO_OUTPUTS)
        return helm_repo

    def _add_image_repositories(self) -> list[EcrRegistry]:
        environment = self.environment
        images = environment.images
        assert images is not None
        pushers = self._external("image-pusher", images.push_principals)
        if self._ci is not None and self._ci.image_publisher_role_arn is not None:
            pushers.append(self._ci.image_publisher_role_arn)
        pullers = self._external("image-puller", images.pull_principals) or [
            environment.account_root_arn
        ]
        self._image_pullers = pullers
        registries = []
        for app, repository_name in environment.image_repositories.items():
            registry = EcrRegistry(
                self,
                f"image-{app}",
                EcrRegistryProps(
                    repository_name=repository_name,
                    push_principals=pushers,
                    pull_principals=pullers,
                    allow_force_delete=self.disposable,
                ),
            )
            registries.append(registry)
            self.output(
                f"image_{app.replace('-', '_')}_repository_url",
                registry.repository_url,
                f"ECR repository of the {app} image (CI pushes tag {images.tag})",
            )
        if self._ci is not None and self._ci.image_publisher_role_arn is not None:
            self._ci.grant_image_push([registry.repository_arn for registry in registries])
        return registries

    def _add_registry_clients(self, app_registries: list[EcrRegistry]) -> None:
        """The docker logins of the cluster outside AWS: the refresher pulls every repository
        of the environment; the build login pushes to the build repositories and nowhere else."""
        environment = self.environment
        refresher, builder = environment.ecr_refresher_release, environment.ecr_builder_release
        assert refresher is not None
        puller = self._registry_client("ecr-refresher-identity", refresher)
        build_registries: list[EcrRegistry] = []
        if builder is not None:
            pusher = self._registry_client("ecr-builder-identity", builder)
            for name, repository_name in environment.build_repositories.items():
                registry = EcrRegistry(
                    self,
                    f"build-image-{name.replace('/', '-')}",
                    EcrRegistryProps(
                        repository_name=repository_name,
                        # Only the build login writes here; readers as for the app images.
                        push_principals=[pusher.principal_arn],
                        pull_principals=self._image_pullers,
                        allow_force_delete=self.disposable,
                    ),
                )
                build_registries.append(registry)
                self.output(
                    f"build_image_{name.replace('/', '_').replace('-', '_')}_repository_url",
                    registry.repository_url,
                    f"ECR repository in-cluster builds push {name} to",
                )
            pusher.grant_registry_access(
                pull_repository_arns=[],
                push_repository_arns=[registry.repository_arn for registry in build_registries],
            )
        puller.grant_registry_access(
            pull_repository_arns=[
                registry.repository_arn for registry in [*app_registries, *build_registries]
            ]
        )

    def _registry_client(self, id: str, release: CredentialsRelease) -> EcrClientIdentity:
        """The AWS identity of one refresher release: a web-identity role, or a keyless user."""
        environment = self.environment
        refresher = environment.ecr_refresher
        assert refresher is not None
        trust = None
        if refresher.identity == "web_identity":
            provider = self._cluster_oidc_provider()
            trust = RefresherTrust(
                oidc_provider_arn=provider.arn,
                oidc_issuer_url=provider.issuer_url,
                role_name=release.iam_name,
                namespace=release.namespace,
                service_account_name=release.service_account,
            )
        identity = EcrClientIdentity(
            self,
            id,
            EcrClientIdentityProps(
                name=release.iam_name,
                trust=trust,
                allow_force_destroy=self.disposable and trust is None,
            ),
        )
        kind = "role (web identity)" if trust else "IAM user (no key in Terraform)"
        self.output(
            f"{release.release.replace('-', '_')}_principal_arn",
            identity.principal_arn,
            f"The {release.release} release's AWS identity: {kind}"
            + ("" if trust else f"; `berth refresher rotate-key {environment.name}` makes its key"),
        )
        return identity

    def _add_observability(self) -> None:
        environment = self.environment
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
                allow_immediate_deletion=self.disposable,
            ),
        )
        self.outputs(private_key, CORALOGIX_KEY_OUTPUTS)
        identity = environment.otel_agent_identity
        if identity is None:
            return
        # The agent's role (its ServiceAccount comes with its release, in the workloads stack).
        agent = IrsaServiceAccount(self, "otel-agent", self._irsa_props(identity))
        private_key.grant_read(agent)
        self.outputs(agent, OTEL_AGENT_OUTPUTS)

    def _add_s3_proxy_bucket(self) -> None:
        environment = self.environment
        proxy, identity = environment.s3_proxy, environment.s3_proxy_identity
        assert proxy is not None and identity is not None
        content = S3ProxyBucket(
            self,
            "s3proxy",
            S3ProxyBucketProps(
                bucket_name=environment.s3_proxy_bucket_name,
                account_id=environment.account_id,
                reader=self._irsa_props(identity),
                prefix=proxy.prefix,
                index_document=proxy.index_document,
                content_dir=proxy.content_dir,
            ),
        )
        self.outputs(content, S3_PROXY_OUTPUTS)

    def _irsa_props(self, identity: WorkloadIdentity) -> IrsaServiceAccountProps:
        """A workload's role, trusting its ServiceAccount through the cluster's OIDC provider."""
        provider = self._cluster_oidc_provider()
        return IrsaServiceAccountProps(
            namespace=identity.namespace,
            name=identity.service_account,
            role_name=identity.role_name,
            oidc_provider_arn=provider.arn,
            oidc_issuer_url=provider.issuer_url,
            # The workload's chart creates the ServiceAccount, in the workloads stack.
            create_service_account=False,
        )

    def _cluster_oidc_provider(self) -> ClusterOidcProvider:
        """The cluster's IAM OIDC provider: looked up (or created) once per stack."""
        found = self.node.try_find_child("cluster-oidc-provider")
        if isinstance(found, ClusterOidcProvider):
            return found
        environment = self.environment
        external = environment.external_cluster
        if external is not None:
            assert external.oidc_issuer_url is not None
            return ClusterOidcProvider(
                self,
                "cluster-oidc-provider",
                ClusterOidcProviderProps(
                    issuer_url=external.oidc_issuer_url,
                    create_provider=external.oidc_provider == "create",
                ),
            )
        cluster = environment.cluster
        assert cluster is not None
        reported = None
        if cluster.remote_state is not None:
            # The cluster's own state says which issuer it has: IRSA trusts must name that one.
            state = cluster.remote_state
            reported = cluster_state(
                self,
                "cluster-state",
                bucket=state.bucket,
                key=state.key,
                region=state.region or environment.region,
                assume_role=self.deploy_role,
            ).get_string(state.oidc_issuer_output)
        return ClusterOidcProvider(
            self,
            "cluster-oidc-provider",
            ClusterOidcProviderProps(
                issuer_url=cluster.oidc_issuer_url,
                create_provider=cluster.oidc_provider == "create",
                reported_issuer_url=reported,
                reported_by=(
                    f"the cluster's state s3://{cluster.remote_state.bucket}/{cluster.remote_state.key}"
                    if cluster.remote_state
                    else "the cluster"
                ),
            ),
        )
