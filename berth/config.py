"""Environments as data: one YAML file per environment, validated before any Terraform is written.

`environments/<name>.yaml` -> `load_environment(name)` -> `Environment` (typed, frozen). Every
error names the file and the field, so a typo in `prod.yaml` reads as
`environments/prod.yaml: helm_repo.publisher_principals: field required`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from berth.naming import (
    APP_IMAGES,
    StackNames,
    WorkloadIdentity,
    ci_role_names,
    image_repository_name,
    stack_names,
    workload_identity,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS_ENV = "BERTH_ENVIRONMENTS_DIR"


def environments_dir() -> Path:
    """`environments/` of the project, or the folder named by BERTH_ENVIRONMENTS_DIR."""
    configured = os.environ.get(ENVIRONMENTS_ENV)
    return Path(configured) if configured else PROJECT_ROOT / "environments"


_IAM_PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$"
)
_NAME = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region")]
PrincipalArn = Annotated[str, Field(description="IAM role, user or account root ARN")]
# Namespaces the cluster stack creates (with Pod Security labels): never Kubernetes' own.
_RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def _check_namespace(value: str) -> str:
    if value in _RESERVED_NAMESPACES:
        raise ValueError(f"{value!r} belongs to Kubernetes; Berth creates its own namespaces")
    return value


class ConfigError(Exception):
    """An environment file is missing or invalid; the message names the file and the field."""


class _Strict(BaseModel):
    # Unknown fields are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_principals(values: list[str]) -> list[str]:
    for value in values:
        if not _IAM_PRINCIPAL_ARN.match(value):
            raise ValueError(f"{value!r} is not an IAM role, user or account-root ARN")
    return values


class HelmRepoConfig(_Strict):
    """The private S3 Helm chart repository."""

    # Who else may upload charts: existing roles (looked up at plan time when they are in this
    # account). With `ci`, the stack's own CI chart publisher is added; without, name one.
    publisher_principals: list[PrincipalArn] = Field(default_factory=list)
    # Who may read charts; empty means the whole account (its root principal).
    reader_principals: list[PrincipalArn] = Field(default_factory=list)
    # Overrides the derived `<name_prefix>-helm-charts` bucket name.
    bucket_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    # Days a replaced or deleted chart stays recoverable.
    noncurrent_version_expiration_days: int = Field(default=30, ge=1, le=3650)

    _principals = field_validator("publisher_principals", "reader_principals")(_check_principals)


class ClusterRemoteStateConfig(_Strict):
    """The cluster's own Terraform state, read for its endpoint and CA."""

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key: str = Field(min_length=1)
    region: Region | None = None
    # Output names in that state; the defaults are terraform-aws-modules/eks's.
    endpoint_output: str = "cluster_endpoint"
    certificate_authority_output: str = "cluster_certificate_authority_data"
    # The cluster's OIDC issuer in that state; planning stops if it is not `oidc_issuer_url`.
    oidc_issuer_output: str = "cluster_oidc_issuer_url"


class ClusterConfig(_Strict):
    """The EKS cluster this environment's workloads run in."""

    # EKS cluster name.
    name: str = Field(min_length=1, max_length=100)
    # OIDC issuer URL of the cluster (https://oidc.eks.REGION.amazonaws.com/id/ID). Written here,
    # not looked up, so reviewers read every IRSA trust condition in the synthesized JSON.
    oidc_issuer_url: str = Field(pattern=r"^https://[^\s/]+(/[^\s]*)?$")
    # Where endpoint and CA come from: the EKS API by name, or the cluster's remote state.
    facts_source: Literal["eks_api", "remote_state"] = "eks_api"
    remote_state: ClusterRemoteStateConfig | None = None
    # The cluster's IAM OIDC provider, which every IRSA trust names: `lookup` finds it by the
    # issuer URL (planning stops when it is missing); `create` makes the stack create it.
    oidc_provider: Literal["lookup", "create"] = "lookup"

    @model_validator(mode="after")
    def _remote_state_matches_source(self) -> ClusterConfig:
        if self.facts_source == "remote_state" and self.remote_state is None:
            raise ValueError("remote_state: required when facts_source is remote_state")
        if self.facts_source == "eks_api" and self.remote_state is not None:
            raise ValueError("remote_state: only read when facts_source is remote_state")
        return self

    @property
    def oidc_issuer_host_path(self) -> str:
        """The issuer without its scheme: the prefix of IRSA condition keys."""
        return self.oidc_issuer_url.removeprefix("https://").rstrip("/")


class DeployRoleConfig(_Strict):
    """The role Terraform assumes to deploy this environment (operators and CI assume into it)."""

    role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
    # Shows in CloudTrail as who deployed.
    session_name: str = Field(default="berth-deploy", pattern=r"^[\w+=,.@-]{2,64}$")
    external_id: str | None = Field(default=None, min_length=2, max_length=1224)


class StateBackendConfig(_Strict):
    """Where Terraform keeps this environment's state (S3, encrypted, with a lock file).

    Reached through the deploy role, like the provider: operators need nothing but the right
    to assume that role.
    """

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    region: Region
    # Each stack keeps `<key_prefix><stack>.tfstate`, e.g. `berth/uat-workloads.tfstate`.
    key_prefix: str = Field(default="berth/", pattern=r"^([\w.=@-]+/)*$")
    kms_key_id: str | None = None


class CiConfig(_Strict):
    """Roles CI (GitHub Actions) assumes through OIDC: no IAM user keys."""

    # GitHub repository "owner/name" whose workflows may assume the roles.
    repository: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
    # Token subject allowed to publish charts and push images (after `repo:OWNER/REPO:`).
    publisher_subject: str = "ref:refs/heads/main"
    # Token subject allowed to deploy this environment; None means `environment:<name>`.
    deploy_subject: str | None = None
    # Create the account's GitHub OIDC provider (one per issuer per account); false: give its ARN.
    create_oidc_provider: bool = True
    # ARN of the account's existing GitHub OIDC provider, when create_oidc_provider is false.
    oidc_provider_arn: str | None = None


class ImagesConfig(_Strict):
    """ECR repositories for Berth's runtime apps (s3proxy, ecr-refresher, appconfig-fetch)."""

    # Who else may push images: existing roles (looked up at plan time when they are in this
    # account). With `ci`, the stack's own CI image publisher is added; without, name one.
    push_principals: list[PrincipalArn] = Field(default_factory=list)
    # Principals allowed to pull; empty means the whole account (its root principal).
    pull_principals: list[PrincipalArn] = Field(default_factory=list)
    # The release every workload runs: an immutable tag pushed by CI.
    tag: str = Field(default="0.1.0", pattern=r"^[\w][\w.-]{0,127}$")

    _principals = field_validator("push_principals", "pull_principals")(_check_principals)

    @field_validator("tag")
    @classmethod
    def _not_latest(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' moves; pin a release tag")
        return value


class ObservabilityConfig(_Strict):
    """The OpenTelemetry agent and the Coralogix key it reads through AppConfig."""

    # Coralogix domain of the account, e.g. eu2.coralogix.com.
    coralogix_domain: str = Field(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    # Secret holding the private key (set with `berth secret put ENV NAME`).
    secret_name: str = Field(
        default="coralogix-private-key", pattern=r"^[a-z][a-z0-9-]{0,46}[a-z0-9]$"
    )
    # Kubernetes namespace of the agent (created by the cluster stack).
    namespace: str = Field(default="observability", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    # deployment (an OTLP gateway) or daemonset (one collector per node).
    mode: Literal["deployment", "daemonset"] = "deployment"
    # When the secret is a JSON object, the field holding the key ("" = the whole value).
    json_key: str = ""

    _namespace = field_validator("namespace")(_check_namespace)


class S3ProxyConfig(_Strict):
    """An HTTPS front (basic auth) for a private content bucket."""

    # Host name the Ingress serves.
    host: str = Field(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    # Overrides the derived `<name_prefix>-s3proxy-content` bucket name.
    bucket_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    # Serve only keys below this prefix.
    prefix: str = ""
    # Object served for `/` and paths ending in `/`.
    index_document: str = ""
    # A folder the stack uploads to the bucket (below `prefix`), relative to this file; the
    # `index_document`, when set, must be one of its top-level files.
    content_dir: Path | None = None
    # Existing Secret with an `htpasswd` key (bcrypt lines): hashes stay out of state.
    htpasswd_secret_name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    # Secret with the Ingress certificate; or let the chart sign one (non-production only).
    tls_secret_name: str | None = None
    allow_self_signed_tls: bool = False
    # Kubernetes namespace of the proxy (created by the cluster stack).
    namespace: str = Field(default="s3proxy", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    ingress_class_name: str = ""

    _namespace = field_validator("namespace")(_check_namespace)

    @field_validator("content_dir")
    @classmethod
    def _content_dir_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        folder = value if value.is_absolute() or base is None else Path(base) / value
        if not folder.is_dir():
            raise ValueError(f"{_display_path(folder)} is not a folder")
        # Absolute, so that synthesis finds it whatever the working directory is then.
        return folder.resolve()

    @model_validator(mode="after")
    def _one_tls_source(self) -> S3ProxyConfig:
        if (self.tls_secret_name is None) == (not self.allow_self_signed_tls):
            raise ValueError(
                "tls_secret_name: give a TLS secret, or set allow_self_signed_tls (not both)"
            )
        if (
            self.content_dir is not None
            and self.index_document
            and not (self.content_dir / self.index_document).is_file()
        ):
            raise ValueError(
                f"index_document: {self.index_document!r} is not a file of content_dir"
                f" ({_display_path(self.content_dir)})"
            )
        return self


class Environment(_Strict):
    """One deployment target: an AWS account and region, and optionally an EKS cluster."""

    name: str = Field(pattern=_NAME)
    account_id: AccountId
    region: Region
    # Prefix of every resource name, so environments sharing an account never collide.
    name_prefix: str = Field(pattern=_NAME)
    # Default tags on every taggable resource; Environment and ManagedBy are always added.
    tags: dict[str, str] = Field(default_factory=dict)
    # True only for `local`: the AWS provider talks to the embedded emulator.
    emulator: bool = False
    # Remote state; required unless `emulator` is true.
    state_backend: StateBackendConfig | None = None
    # The role the AWS provider assumes; required unless `emulator` is true.
    deploy_role: DeployRoleConfig | None = None
    cluster: ClusterConfig | None = None
    helm_repo: HelmRepoConfig
    # CI roles trusted through GitHub OIDC; None: no CI identities in this account.
    ci: CiConfig | None = None
    # ECR repositories for the runtime apps; None: no repositories.
    images: ImagesConfig | None = None
    # The Coralogix key (secret + AppConfig) and, with a cluster, the OTel agent release.
    observability: ObservabilityConfig | None = None
    # The S3 proxy release; needs a cluster and images.
    s3_proxy: S3ProxyConfig | None = None

    @model_validator(mode="after")
    def _backend_matches_target(self) -> Environment:
        if not self.emulator and self.state_backend is None:
            raise ValueError(
                "state_backend: required for a real AWS account (only the emulator keeps local state)"
            )
        if self.s3_proxy is not None and (self.cluster is None or self.images is None):
            raise ValueError(
                "s3_proxy: needs a cluster and images (the proxy runs from this account's ECR)"
            )
        if self.emulator and self.state_backend is not None:
            raise ValueError(
                "state_backend: the emulator environment keeps local state; remove this block"
            )
        if not self.emulator and self.deploy_role is None:
            raise ValueError("deploy_role: required for a real AWS account (Terraform assumes it)")
        if self.emulator and (self.deploy_role is not None or self.cluster is not None):
            raise ValueError(
                "deploy_role: the emulator environment has no deploy role and no cluster"
            )
        return self

    @model_validator(mode="after")
    def _principals_are_external(self) -> Environment:
        """Principal lists name what exists outside the stack; the stack adds its own roles."""
        if self.state_backend is not None and self.ci is not None:
            kms = self.state_backend.kms_key_id
            if kms is not None and not re.match(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/", kms):
                raise ValueError(
                    "state_backend.kms_key_id: must be a key ARN when ci is set (IAM grants need it)"
                )
        roles = ci_role_names(self.name_prefix)
        created = {
            "helm_repo.publisher_principals": roles.chart_publisher,
            "images.push_principals": roles.image_publisher,
        }
        lists = {
            "helm_repo.publisher_principals": self.helm_repo.publisher_principals,
            "images.push_principals": self.images.push_principals if self.images else [],
        }
        for field, principals in lists.items():
            own = f"arn:aws:iam::{self.account_id}:role/{created[field]}"
            if self.ci is not None and own in principals:
                raise ValueError(
                    f"{field}: {own} is the CI role this environment's stack creates (ci);"
                    " remove it from the list, the stack adds it"
                )
        if self.ci is None and not self.helm_repo.publisher_principals:
            raise ValueError(
                "helm_repo.publisher_principals: name at least one publisher, or add a `ci`"
                " block so the stack creates the CI chart publisher"
            )
        if self.ci is None and self.images is not None and not self.images.push_principals:
            raise ValueError(
                "images.push_principals: name at least one pusher, or add a `ci` block so the"
                " stack creates the CI image publisher"
            )
        return self

    @property
    def default_tags(self) -> dict[str, str]:
        return {**self.tags, "Environment": self.name, "ManagedBy": "berth"}

    @property
    def account_root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    @property
    def helm_repo_bucket_name(self) -> str:
        return self.helm_repo.bucket_name or f"{self.name_prefix}-helm-charts"

    @property
    def s3_proxy_bucket_name(self) -> str:
        configured = self.s3_proxy.bucket_name if self.s3_proxy else None
        return configured or f"{self.name_prefix}-s3proxy-content"

    @property
    def stacks(self) -> StackNames:
        """This environment's stack names (`uat`, `uat-cluster`, `uat-workloads`)."""
        return stack_names(self.name)

    @property
    def stack_names(self) -> tuple[str, ...]:
        """The stacks this environment synthesizes: the cluster halves only with a cluster."""
        return self.stacks.all if self.cluster is not None else (self.stacks.account,)

    def state_key(self, stack: str) -> str:
        """The S3 key of `stack`'s state, e.g. `berth/uat-cluster.tfstate`."""
        if self.state_backend is None:
            raise ValueError("the emulator environment has no remote state")
        return f"{self.state_backend.key_prefix}{stack}.tfstate"

    @property
    def deploy_role_name(self) -> str | None:
        if self.deploy_role is None:
            return None
        return self.deploy_role.role_arn.rsplit("/", 1)[-1]

    @property
    def named_roles(self) -> list[str]:
        """ARNs of this account's roles the file names as principals (they must exist: the
        stack looks them up); the deploy role is not among them."""
        principals = [*self.helm_repo.publisher_principals, *self.helm_repo.reader_principals]
        if self.images is not None:
            principals += self.images.push_principals + self.images.pull_principals
        own = f":iam::{self.account_id}:role/"
        return sorted({principal for principal in principals if own in principal})

    @property
    def image_repositories(self) -> dict[str, str]:
        """App -> ECR repository name, for every runtime app image (empty without `images`)."""
        if self.images is None:
            return {}
        return {app: image_repository_name(self.name_prefix, app) for app in APP_IMAGES}

    @property
    def otel_agent_identity(self) -> WorkloadIdentity | None:
        if self.observability is None or self.cluster is None:
            return None
        return workload_identity(self.name_prefix, "otel-agent", self.observability.namespace)

    @property
    def s3_proxy_identity(self) -> WorkloadIdentity | None:
        if self.s3_proxy is None:
            return None
        return workload_identity(self.name_prefix, "s3proxy", self.s3_proxy.namespace)

    @property
    def workload_namespaces(self) -> tuple[str, ...]:
        """Every namespace a release of this environment lands in, sorted, each once."""
        identities = (self.otel_agent_identity, self.s3_proxy_identity)
        return tuple(sorted({i.namespace for i in identities if i is not None}))


def _format_location(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location)


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        # Model-level checks name their field in the message; the location adds nothing.
        location = _format_location(problem["loc"])
        lines.append(f"{location}: {message}" if location else message)
    return "; ".join(lines)


def parse_environment(path: Path, document: Any) -> Environment:
    """Validate one parsed environment document; errors name `path` and the field."""
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(document).__name__}")
    if document.get("name", path.stem) != path.stem:
        raise ConfigError(
            f"{path}: name: {document['name']!r} must match the file name {path.stem!r}"
        )
    try:
        return Environment.model_validate(
            {"name": path.stem, **document}, context={"base_dir": path.parent}
        )
    except ValidationError as error:
        raise ConfigError(f"{path}: {_describe(error)}") from None


def load_environment_file(path: Path) -> Environment:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such environment file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_environment(path, document)


def load_environment(name: str, directory: Path | None = None) -> Environment:
    """Load `environments/<name>.yaml`."""
    directory = directory or environments_dir()
    if not re.match(_NAME, name):
        raise ConfigError(f"{name!r}: not an environment name (lowercase letters, digits, dashes)")
    return load_environment_file(_display_path(directory / f"{name}.yaml"))


def load_all_environments(directory: Path | None = None) -> list[Environment]:
    """Every `*.yaml` in the environments folder, sorted by name; all errors reported together."""
    directory = directory or environments_dir()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{_display_path(directory)}: no environment files (*.yaml)")
    environments, errors = [], []
    for path in files:
        try:
            environments.append(load_environment_file(_display_path(path)))
        except ConfigError as error:
            errors.append(str(error))
    if errors:
        raise ConfigError("\n".join(errors))
    return environments


def _display_path(path: Path) -> Path:
    """Paths inside the project are shown relative to it, so messages match what users typed."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path
