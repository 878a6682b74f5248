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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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

    # Who may upload charts (CI roles); nobody else can write.
    publisher_principals: list[PrincipalArn] = Field(min_length=1)
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
    """Where Terraform keeps this environment's state (S3, encrypted, with a lock file)."""

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    region: Region
    # Defaults to `berth/<environment>.tfstate`: one key per stack.
    key: str | None = None
    kms_key_id: str | None = None


class CiConfig(_Strict):
    """Roles CI (GitHub Actions) assumes through OIDC: no IAM user keys."""

    # GitHub repository "owner/name" whose workflows may assume the roles.
    repository: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
    # Token subject allowed to publish charts (after `repo:OWNER/REPO:`).
    publisher_subject: str = "ref:refs/heads/main"
    # Token subject allowed to deploy this environment; None means `environment:<name>`.
    deploy_subject: str | None = None
    # Create the account's GitHub OIDC provider (one per issuer per account); false: give its ARN.
    create_oidc_provider: bool = True
    # ARN of the account's existing GitHub OIDC provider, when create_oidc_provider is false.
    oidc_provider_arn: str | None = None


class ImagesConfig(_Strict):
    """ECR repositories for Berth's runtime apps (s3proxy, ecr-refresher, appconfig-fetch)."""

    # Principals (CI roles) allowed to push images; the only writers.
    push_principals: list[PrincipalArn] = Field(min_length=1)
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
    # Kubernetes namespace of the agent.
    namespace: str = Field(default="observability", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    # deployment (an OTLP gateway) or daemonset (one collector per node).
    mode: Literal["deployment", "daemonset"] = "deployment"
    # When the secret is a JSON object, the field holding the key ("" = the whole value).
    json_key: str = ""


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
    # Existing Secret with an `htpasswd` key (bcrypt lines): hashes stay out of state.
    htpasswd_secret_name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    # Secret with the Ingress certificate; or let the chart sign one (non-production only).
    tls_secret_name: str | None = None
    allow_self_signed_tls: bool = False
    namespace: str = Field(default="s3proxy", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    ingress_class_name: str = ""

    @model_validator(mode="after")
    def _one_tls_source(self) -> S3ProxyConfig:
        if (self.tls_secret_name is None) == (not self.allow_self_signed_tls):
            raise ValueError(
                "tls_secret_name: give a TLS secret, or set allow_self_signed_tls (not both)"
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
        if self.emulator and self.ci is not None:
            raise ValueError("ci: CI identities need a real account (not the emulator)")
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
    def _ci_needs_a_real_account(self) -> Environment:
        if self.ci is None or self.state_backend is None:
            return self
        kms = self.state_backend.kms_key_id
        if kms is not None and not re.match(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/", kms):
            raise ValueError(
                "state_backend.kms_key_id: must be a key ARN when ci is set (IAM grants need it)"
            )
        publisher = f"arn:aws:iam::{self.account_id}:role/{self.name_prefix}-chart-publisher"
        if publisher not in self.helm_repo.publisher_principals:
            raise ValueError(
                f"helm_repo.publisher_principals: must include the CI publisher role {publisher}"
            )
        return self

    @property
    def oidc_provider_arn(self) -> str:
        """The IAM OIDC provider of the cluster: the Federated principal of every IRSA trust."""
        if self.cluster is None:
            raise ValueError("cluster: this environment has no cluster")
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{self.cluster.oidc_issuer_host_path}"

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
    def state_key(self) -> str:
        if self.state_backend is None:
            raise ValueError("the emulator environment has no remote state")
        return self.state_backend.key or f"berth/{self.name}.tfstate"


def _format_location(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see environments/README.md)"
        lines.append(f"{_format_location(problem['loc'])}: {message}")
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
        return Environment.model_validate({"name": path.stem, **document})
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
