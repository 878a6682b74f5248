"""EcrRefresherRelease: installs `charts/ecr-credential-refresher` on a cluster outside AWS.

The refresher keeps an ECR docker login fresh in a pull secret in the target namespaces. Its AWS
identity is either a role (`EcrClientIdentity` or `EcrRegistry(refresher=...)`) assumed by web
identity through the cluster's OIDC issuer (the chart projects the token itself with
`project_web_identity_token`, or EKS's pod identity webhook does) or, where the cluster has no
OIDC issuer AWS can reach, an existing Secret with an IAM user's key made OUTSIDE Terraform
(`aws_credentials_secret`, written by `berth refresher rotate-key`): Berth never creates access
keys in Terraform, since they would land in state.

The chart's admission policy (on by default) lets the release's ServiceAccount write only its
own Secrets; the construct never turns it off.

Values are typed (`RefresherValues` mirrors the chart's values.schema.json) and handed to
`helm_release` as one YAML document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from cdktf import TerraformProvider, Token
from constructs import Construct

from berth_constructs.container_image import ContainerImage
from berth_constructs.helm_chart import ChartSource, install_chart
from berth_core.validation import ACCOUNT_ID, DNS_LABEL, DNS_SUBDOMAIN, REGION, ROLE_ARN

_DURATION = re.compile(r"^(?=.)(\d+h)?(\d+m)?(\d+s)?$")


def _is_value(text: str | None) -> bool:
    """True for a literal string we can check; tokens (other resources' attributes) are not."""
    return bool(text) and not Token.is_unresolved(text)


class _Image(TypedDict):
    repository: str
    tag: str
    digest: str
    pullPolicy: str


class _WebIdentity(TypedDict):
    roleArn: str


class _Aws(TypedDict):
    region: str
    registryIds: list[str]
    existingSecret: str
    webIdentity: NotRequired[_WebIdentity]


class _ServiceAccount(TypedDict):
    create: bool
    name: str
    roleArn: str


class _Targets(TypedDict):
    namespaces: list[str]
    selector: str
    all: bool


class _Builder(TypedDict):
    enabled: bool
    secretName: str
    serviceAccount: str
    createServiceAccount: bool


class _Status(TypedDict):
    configMapName: str


class RefresherValues(TypedDict):
    """The values of `charts/ecr-credential-refresher` this construct sets (schema-checked)."""

    image: _Image
    imagePullSecrets: list[dict[str, str]]
    aws: _Aws
    serviceAccount: _ServiceAccount
    pullSecret: dict[str, str]
    targets: _Targets
    patchServiceAccounts: list[str]
    builder: _Builder
    refreshMargin: str
    logLevel: str
    fullnameOverride: str
    status: NotRequired[_Status]


@dataclass(frozen=True, kw_only=True)
class EcrRefresherReleaseProps:
    # AWS region of the ECR registry (ECR logins are regional).
    region: str
    # The refresher image (`apps/ecr_refresher`), pinned by digest or immutable tag.
    image: ContainerImage
    # Where the chart comes from.
    chart: ChartSource
    # Target namespaces by name (RBAC: one Role per namespace; the safest mode).
    target_namespaces: Sequence[str] = ()
    # Or target namespaces by label selector, e.g. `ecr-pull=enabled` (RBAC: a ClusterRole).
    target_namespace_selector: str = ""
    # Or every namespace (RBAC: a ClusterRole writing the pull secret everywhere).
    allow_all_namespaces: bool = False
    # IAM role to assume by web identity (`EcrClientIdentity.role_arn`).
    role_arn: str | None = None
    # The chart projects the web-identity token itself (clusters without EKS's pod identity
    # webhook); False leaves it to the webhook (the `eks.amazonaws.com/role-arn` annotation).
    project_web_identity_token: bool = False
    # Or an existing Secret, made outside Terraform, whose one key `credentials` holds an AWS
    # shared-credentials file (`[default]`, `aws_access_key_id = ...`, `aws_secret_access_key =
    # ...`); the chart (>= 0.2.0) mounts it read-only as a file, never as environment variables.
    aws_credentials_secret: str | None = None
    # ECR registry (account) ids to log in to; empty means the credentials' own account.
    registry_ids: Sequence[str] = ()
    # Namespace of the release (and of the trust condition of `role_arn`); must exist (see
    # WorkloadNamespace).
    namespace: str = "ecr-credential-refresher"
    # ServiceAccount the chart creates (the `:sub` of the trust condition of `role_arn`).
    service_account_name: str = "ecr-credential-refresher"
    # Helm release name.
    release_name: str = "ecr-credential-refresher"
    # Name of the dockerconfigjson secret written into each target namespace.
    pull_secret_name: str = "ecr-pull"  # noqa: S105 - an object name, not a secret
    # ServiceAccounts in each target namespace that get the pull secret, e.g. `["default"]`.
    patch_service_accounts: Sequence[str] = ()
    # Also maintain a basic-auth secret for Tekton/Knative builds.
    enable_builder_secret: bool = False
    # Name of the builder secret.
    builder_secret_name: str = "ecr-creds"  # noqa: S105 - an object name, not a secret
    # ServiceAccount (per target namespace) that gets the builder secret ("" = none).
    builder_service_account: str = ""
    # The chart makes that ServiceAccount in each target namespace (list mode), naming both
    # secrets, instead of the refresher patching an existing one.
    create_builder_service_account: bool = False
    # ConfigMap where the refresher reports the key id of its token ("" = the chart's default).
    status_config_map: str = ""
    # Pull secrets for the refresher's own image (it cannot use the secret it writes at boot).
    image_pull_secrets: Sequence[str] = ()
    # Refresh this long before the token expires (`30m`, `1h`).
    refresh_margin: str = "30m"
    # Refresher log level; it never logs tokens.
    log_level: str = "INFO"
    # Helm provider of the target cluster; None uses the stack's default helm provider.
    provider: TerraformProvider | None = field(default=None, compare=False)

    def __post_init__(self) -> None:  # noqa: PLR0912 - one check per field, in field order
        if not REGION.match(self.region):
            raise ValueError(f"region: {self.region!r} is not an AWS region")
        modes = [bool(self.target_namespaces), bool(self.target_namespace_selector)]
        if sum([*modes, self.allow_all_namespaces]) != 1:
            raise ValueError(
                "target_namespaces: choose exactly one of target_namespaces,"
                " target_namespace_selector or allow_all_namespaces"
            )
        for namespace in (*self.target_namespaces, self.namespace):
            if not DNS_LABEL.match(namespace):
                raise ValueError(f"target_namespaces: {namespace!r} is not a namespace name")
        if (self.role_arn is None) == (self.aws_credentials_secret is None):
            raise ValueError(
                "role_arn: give exactly one AWS identity: role_arn (web identity) or"
                " aws_credentials_secret (keys made outside Terraform)"
            )
        if self.role_arn and _is_value(self.role_arn) and not ROLE_ARN.match(self.role_arn):
            raise ValueError(f"role_arn: {self.role_arn!r} is not an IAM role ARN")
        names = {
            "aws_credentials_secret": [self.aws_credentials_secret or "x"],
            "service_account_name": [self.service_account_name],
            "release_name": [self.release_name],
            "pull_secret_name": [self.pull_secret_name],
            "patch_service_accounts": list(self.patch_service_accounts),
            "builder_secret_name": [self.builder_secret_name],
            "builder_service_account": [self.builder_service_account or "x"],
            "image_pull_secrets": list(self.image_pull_secrets),
        }
        for field_name, values in names.items():
            for value in values:
                if not DNS_SUBDOMAIN.match(value):
                    raise ValueError(f"{field_name}: {value!r} is not a Kubernetes object name")
        for registry_id in self.registry_ids:
            if _is_value(registry_id) and not ACCOUNT_ID.match(registry_id):
                raise ValueError(f"registry_ids: {registry_id!r} is not a 12-digit account id")
        if self.enable_builder_secret and self.builder_secret_name == self.pull_secret_name:
            raise ValueError("builder_secret_name: must differ from pull_secret_name")
        if self.project_web_identity_token and self.role_arn is None:
            raise ValueError("project_web_identity_token: needs role_arn")
        if self.create_builder_service_account and not (
            self.enable_builder_secret and self.builder_service_account and self.target_namespaces
        ):
            raise ValueError(
                "create_builder_service_account: needs enable_builder_secret, a"
                " builder_service_account and target_namespaces (the account is made in each)"
            )
        if self.status_config_map and not DNS_SUBDOMAIN.match(self.status_config_map):
            raise ValueError(
                f"status_config_map: {self.status_config_map!r} is not a Kubernetes object name"
            )
        if not _DURATION.match(self.refresh_margin):
            raise ValueError(f"refresh_margin: {self.refresh_margin!r} is not like 30m or 1h")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"log_level: {self.log_level!r} is not DEBUG, INFO, WARNING or ERROR")


def refresher_values(props: EcrRefresherReleaseProps) -> RefresherValues:
    """The chart values for `props`; every key exists in the chart's values.schema.json."""
    projected = props.project_web_identity_token
    values: RefresherValues = {
        "image": {
            "repository": props.image.repository,
            "tag": props.image.tag,
            "digest": props.image.digest,
            "pullPolicy": "IfNotPresent",
        },
        "imagePullSecrets": [{"name": name} for name in props.image_pull_secrets],
        "aws": {
            "region": props.region,
            "registryIds": list(props.registry_ids),
            "existingSecret": props.aws_credentials_secret or "",
        },
        "serviceAccount": {
            "create": True,
            "name": props.service_account_name,
            "roleArn": "" if projected else props.role_arn or "",
        },
        "pullSecret": {"name": props.pull_secret_name},
        "targets": {
            "namespaces": list(props.target_namespaces),
            "selector": props.target_namespace_selector,
            "all": props.allow_all_namespaces,
        },
        "patchServiceAccounts": list(props.patch_service_accounts),
        "builder": {
            "enabled": props.enable_builder_secret,
            "secretName": props.builder_secret_name,
            "serviceAccount": props.builder_service_account,
            "createServiceAccount": props.create_builder_service_account,
        },
        "refreshMargin": props.refresh_margin,
        "logLevel": props.log_level,
        # Objects are named after the release, so a second release never takes the first's names.
        "fullnameOverride": props.release_name,
    }
    if projected:
        values["aws"]["webIdentity"] = {"roleArn": props.role_arn or ""}
    if props.status_config_map:
        values["status"] = {"configMapName": props.status_config_map}
    return values


class EcrRefresherRelease(Construct):
    """Outputs: `release_name`, `release_namespace`, `pull_secret_name`, `values`."""

    def __init__(self, scope: Construct, id: str, props: EcrRefresherReleaseProps) -> None:
        super().__init__(scope, id)
        self.values: RefresherValues = refresher_values(props)
        release = install_chart(
            self,
            "release",
            chart=props.chart,
            release_name=props.release_name,
            namespace=props.namespace,
            values=self.values,
            provider=props.provider,
        )
        self.release_name: str = release.name
        self.release_namespace: str = release.namespace
        self.pull_secret_name: str = props.pull_secret_name
