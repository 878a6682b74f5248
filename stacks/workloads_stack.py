"""The workloads stack (`uat-workloads`): Berth's Helm releases.

Installed last, once everything a release waits for exists: its namespace (the cluster stack),
its IAM role and images (looked up here, so planning stops naming what is missing), and what
`berth preflight ENV --step workloads` checks beforehand (the secret's value stored and deployed
through AppConfig, the htpasswd and TLS Secrets).
"""

from __future__ import annotations

from dataclasses import replace

from constructs import Construct

from berth_constructs.container_image import ContainerImage
from berth_constructs.ecr_refresher_release import EcrRefresherRelease, EcrRefresherReleaseProps
from berth_constructs.helm_chart import ChartSource
from berth_constructs.lookups import existing_role_arn, pushed_image
from berth_constructs.otel_agent_release import OtelAgentRelease, OtelAgentReleaseProps
from berth_constructs.s3_proxy_bucket import example_path
from berth_constructs.s3_proxy_release import S3ProxyRelease, S3ProxyReleaseProps
from berth_core.config import PROJECT_ROOT, Environment
from berth_core.naming import (
    ECR_PULL_SECRET,
    CredentialsRelease,
    WorkloadIdentity,
    image_repository_name,
    secret_app_config_names,
)
from stacks.base import BerthStack


class WorkloadsStack(BerthStack):
    def __init__(self, scope: Construct, environment: Environment) -> None:
        super().__init__(scope, environment, environment.stacks.workloads)
        self._images: dict[str, ContainerImage] = {}
        self.cluster_access(kubernetes=False, helm=True)
        if environment.otel_agent_identity is not None:
            self._add_otel_agent(environment.otel_agent_identity)
        if environment.s3_proxy_identity is not None:
            self._add_s3_proxy(environment.s3_proxy_identity)
        for release in environment.credentials_releases:
            self._add_registry_credentials(release)

    def _role_arn(self, identity: WorkloadIdentity) -> str:
        """The workload's role, created by the account stack: looked up by name."""
        return existing_role_arn(self, f"{identity.service_account}-role", identity.role_name)

    def _image(self, app: str) -> ContainerImage:
        """The app's image CI pushed with the environment's tag, pinned by digest (looked up
        once per stack, however many releases run it)."""
        environment = self.environment
        assert environment.images is not None
        if app not in self._images:
            self._images[app] = pushed_image(
                self,
                f"{app}-image",
                image_repository_name(environment.name_prefix, app),
                environment.images.tag,
            )
        return self._images[app]

    def _add_otel_agent(self, identity: WorkloadIdentity) -> None:
        environment = self.environment
        observability = environment.observability
        assert observability is not None
        fetcher = None
        if environment.images is not None:
            # Pinned by digest; the tag says which release the sidecar runs.
            fetcher = replace(self._image("appconfig-fetch"), tag=environment.images.tag)
        OtelAgentRelease(
            self,
            "otel-agent",
            OtelAgentReleaseProps(
                private_key=secret_app_config_names(
                    environment.name_prefix, environment.name, observability.secret_name
                ),
                role_arn=self._role_arn(identity),
                region=environment.region,
                coralogix_domain=observability.coralogix_domain,
                namespace=identity.namespace,
                service_account_name=identity.service_account,
                mode=observability.mode,
                json_key=observability.json_key,
                coralogix_application_name=environment.name_prefix,
                fetcher_image=fetcher,
            ),
        )

    def _add_s3_proxy(self, identity: WorkloadIdentity) -> None:
        environment = self.environment
        proxy = environment.s3_proxy
        assert proxy is not None
        release = S3ProxyRelease(
            self,
            "s3proxy",
            S3ProxyReleaseProps(
                bucket_name=environment.s3_proxy_bucket_name,
                bucket_region=environment.region,
                role_arn=self._role_arn(identity),
                host=proxy.host,
                image=self._image("s3proxy"),
                chart=ChartSource(path=PROJECT_ROOT / "charts" / "s3proxy"),
                htpasswd_secret_name=proxy.htpasswd_secret_name,
                tls_secret_name=proxy.tls_secret_name,
                allow_self_signed_tls=proxy.allow_self_signed_tls,
                prefix=proxy.prefix,
                index_document=proxy.index_document,
                example_path=example_path(proxy.content_dir, proxy.index_document)
                if proxy.content_dir
                else None,
                namespace=identity.namespace,
                service_account_name=identity.service_account,
                ingress_class_name=proxy.ingress_class_name,
            ),
        )
        if release.example_url is not None:
            self.output(
                "app_url_example",
                release.example_url,
                "A URL the S3 proxy serves (basic auth): an object the account stack uploaded",
            )

    def _add_registry_credentials(self, release: CredentialsRelease) -> None:
        """A refresher release on the external cluster: the pull one, or the build one."""
        environment = self.environment
        refresher = environment.ecr_refresher
        assert refresher is not None
        targets = refresher.pull_secret_namespaces
        builds = refresher.builds if release.builder_secret else None
        web_identity = refresher.identity == "web_identity"
        EcrRefresherRelease(
            self,
            release.release,
            EcrRefresherReleaseProps(
                region=environment.region,
                image=self._image("ecr-refresher"),
                chart=ChartSource(path=PROJECT_ROOT / "charts" / "ecr-credential-refresher"),
                # The pull release serves the file's namespaces and its own (its image is
                # pulled with that secret); the build release the build namespaces only.
                target_namespaces=builds.namespaces if builds else refresher.target_namespaces,
                target_namespace_selector="" if builds else targets.selector,
                allow_all_namespaces=False if builds else targets.all,
                role_arn=existing_role_arn(self, f"{release.release}-role", release.iam_name)
                if web_identity
                else None,
                project_web_identity_token=web_identity,
                aws_credentials_secret=None if web_identity else release.credentials_secret,
                registry_ids=[environment.account_id],
                namespace=release.namespace,
                service_account_name=release.service_account,
                release_name=release.release,
                pull_secret_name=release.pull_secret,
                patch_service_accounts=[] if builds else refresher.patch_service_accounts,
                enable_builder_secret=builds is not None,
                builder_secret_name=release.builder_secret or "ecr-creds",
                builder_service_account=builds.service_account if builds else "",
                create_builder_service_account=builds is not None,
                image_pull_secrets=[ECR_PULL_SECRET],
                status_config_map=release.status_config_map,
            ),
        )
