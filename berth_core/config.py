"""Environments as data: one YAML file per environment, validated before any Terraform is written.

`environments/<name>.yaml` -> `load_environment(name)` -> `Environment` (typed, frozen). Every
error names the file and the field, so a typo in `prod.yaml` reads as
`environments/prod.yaml: helm_repo.publisher_principals: field required`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from berth_core.errors import BerthError
from berth_core.naming import (
    APP_IMAGES,
    CredentialsRelease,
    StackNames,
    WorkloadIdentity,
    account_root_arn,
    chart_reader_policy_name,
    ci_role_names,
    ecr_builder_release,
    ecr_refresher_release,
    image_repository_name,
    issuer_host_path,
    role_arn,
    stack_names,
    workload_identity,
)
from berth_core.validation import (
    ACCOUNT_ID,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    GITHUB_REPOSITORY,
    HTTPS_URL,
    KMS_KEY_ARN,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    ORGANIZATION_ID,
    ORGANIZATION_PATH,
    PRINCIPAL_ARN,
    REGION,
    ROLE_ARN,
    SECRET_NAME,
    bucket_name_problem,
    ecr_repository_name_problem,
    host_name_problem,
    image_tag_problem,
    key_prefix_problem,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS_ENV = "BERTH_ENVIRONMENTS_DIR"


def environments_dir() -> Path:
    """`environments/` of the project, or the folder named by BERTH_ENVIRONMENTS_DIR."""
    configured = os.environ.get(ENVIRONMENTS_ENV)
    return Path(configured) if configured else PROJECT_ROOT / "environments"


# Environment names and name prefixes: lowercase words joined by dashes, 3-32 characters.
_NAME = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"


def _follows(problem: Callable[[str], str | None]) -> AfterValidator:
    """A pydantic check through one of `berth_core.validation`'s `*_problem` functions."""

    def check(value: str) -> str:
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return value

    return AfterValidator(check)


AccountId = Annotated[str, Field(pattern=ACCOUNT_ID.regex, description="12-digit AWS account id")]
Region = Annotated[str, Field(pattern=REGION.regex, description="AWS region")]
PrincipalArn = Annotated[str, Field(description="IAM role, user or account root ARN")]
BucketName = Annotated[str, _follows(bucket_name_problem)]
HostName = Annotated[str, _follows(host_name_problem)]
# Namespaces the cluster stack creates (with Pod Security labels): never Kubernetes' own.
_RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def _check_namespace(value: str) -> str:
    if value in _RESERVED_NAMESPACES:
        raise ValueError(f"{value!r} belongs to Kubernetes; Berth creates its own namespaces")
    return value


# Namespaces whose Secrets are Kubernetes' own: no registry login is written there.
_SYSTEM_NAMESPACES = _RESERVED_NAMESPACES - {"default"}


def _check_target_namespaces(values: list[str]) -> list[str]:
    for value in values:
        if not DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a namespace name")
        if value in _SYSTEM_NAMESPACES:
            raise ValueError(f"{value!r} belongs to Kubernetes; no registry login is written there")
    if len(set(values)) != len(values):
        raise ValueError("names a namespace twice")
    return values


class ConfigError(BerthError):
    """An environment file is missing or invalid; the message names the file and the field."""


class _Strict(BaseModel):
    # Unknown fields are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_principals(values: list[str]) -> list[str]:
    for value in values:
        problem = PRINCIPAL_ARN.problem(value)
        if problem:
            raise ValueError(problem)
    return values


RoleArn = Annotated[str, Field(pattern=ROLE_ARN.regex, description="IAM role ARN")]


def normalise_prefix(value: str) -> str:
    """A repository key prefix as Berth stores it: `charts/` for `charts` or `/charts/`, ""
    for the top of the bucket; the characters are `berth_core.validation.key_prefix_problem`'s."""
    stripped = value.strip("/")
    prefix = f"{stripped}/" if stripped else ""
    problem = key_prefix_problem(prefix)
    if problem:
        raise ValueError(problem)
    return prefix


@dataclass(frozen=True)
class ChartRepositoryLocation:
    """Where a Helm chart repository lives: a bucket, a key prefix ("" or `charts/`), a region."""

    bucket: str
    prefix: str
    region: str

    @property
    def url(self) -> str:
        """What helm-s3 users add: `s3://BUCKET/charts` (index.yaml and archives below it)."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


class ChartReadersConfig(_Strict):
    """Who outside this account may read the repository.

    The bucket policy grants them GetObject below the prefix and ListBucket of the prefix, the
    key policy kms:Decrypt through S3 only. Cross-account reads need both halves: these grants
    in the owner's account AND an IAM policy in the reader's (a Berth environment that names
    this one as its `central` repository attaches one to its roles).
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
    """

    # Other accounts: their own IAM policies decide which of their principals read.
    accounts: list[AccountId] = Field(default_factory=list)
    # Roles of other accounts, named literally: each must exist when the policies are applied.
    roles: list[RoleArn] = Field(default_factory=list)
    # Every principal of this AWS Organization (`aws:PrincipalOrgID`).
    organization_id: str | None = Field(default=None, pattern=ORGANIZATION_ID.regex)
    # Every principal of the accounts under these organization paths (`aws:PrincipalOrgPaths`).
    organization_paths: list[str] = Field(default_factory=list)

    @field_validator("organization_paths")
    @classmethod
    def _organization_paths(cls, values: list[str]) -> list[str]:
        for value in values:
            problem = ORGANIZATION_PATH.problem(value)
            if problem:
                raise ValueError(problem)
        return values

    @property
    def principals(self) -> list[str]:
        """The account roots and roles, as policy principals (the organizations come apart)."""
        return [account_root_arn(account) for account in self.accounts] + list(self.roles)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.roles or self.organization_id or self.organization_paths)

    def admits_account(self, account_id: str) -> bool | None:
        """Whether a principal of `account_id` is named; None when an organization might hold
        it (membership cannot be checked from the files)."""
        if account_id in self.accounts or any(f":{account_id}:" in r for r in self.roles):
            return True
        return None if (self.organization_id or self.organization_paths) else False


class CentralRepoConfig(_Strict):
    """The central chart repository this environment reads: another environment's (by name),
    or any bucket (by bucket and KMS key ARN)."""

    # The environment that owns it (its file in the same folder): bucket, prefix and region
    # are taken from there.
    environment: str | None = Field(default=None, pattern=_NAME)
    # The bucket; with `environment`, it must be that environment's.
    bucket: BucketName | None = None
    # The bucket's region; defaults to the key's (S3 needs a key of the bucket's region).
    region: Region | None = None
    # Its key prefix; with `environment`, that environment's.
    prefix: str | None = None
    # The key the owner encrypts charts with: output `helm_repo_kms_key_arn` of its stack.
    kms_key_arn: str

    @field_validator("prefix")
    @classmethod
    def _normalised(cls, value: str | None) -> str | None:
        return None if value is None else normalise_prefix(value)

    @field_validator("kms_key_arn")
    @classmethod
    def _key_arn(cls, value: str) -> str:
        problem = KMS_KEY_ARN.problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _named(self) -> CentralRepoConfig:
        if self.environment is None and self.bucket is None:
            raise ValueError("environment: name the owning environment, or give bucket")
        if self.region is not None and self.region != self.key_region:
            raise ValueError(
                f"region: {self.region} differs from the key's region {self.key_region}"
                " (S3 encrypts with a key of the bucket's region)"
            )
        return self

    @property
    def account_id(self) -> str:
        """The owner's account: the key's."""
        match = KMS_KEY_ARN.match(self.kms_key_arn)
        assert match is not None  # checked by the validator
        return match.group("account")

    @property
    def key_region(self) -> str:
        match = KMS_KEY_ARN.match(self.kms_key_arn)
        assert match is not None
        return match.group("region")

    @property
    def location(self) -> ChartRepositoryLocation:
        if self.bucket is None:
            raise ValueError(f"central repository of {self.environment!r} not resolved")
        return ChartRepositoryLocation(
            bucket=self.bucket, prefix=self.prefix or "", region=self.region or self.key_region
        )


class HelmRepoConfig(_Strict):
    """The environment's Helm chart repositories: its own private S3 bucket (the default) and,
    optionally, a central repository of another environment or account that it reads."""

    # Who else may upload charts: existing roles (looked up at plan time when they are in this
    # account). With `ci`, the stack's own CI chart publisher is added; without, name one.
    publisher_principals: list[PrincipalArn] = Field(default_factory=list)
    # Overrides the derived `<name_prefix>-helm-charts` bucket name.
    bucket_name: BucketName | None = None
    # Days a replaced or deleted chart stays recoverable.
    noncurrent_version_expiration_days: int = Field(
        default=30, ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS
    )
    # Charts live below this key prefix (e.g. `charts/`); helm-s3 users add
    # `s3://BUCKET/charts`. Empty: at the top of the bucket.
    prefix: str = ""
    # Who outside this account may read this environment's repository (a central one).
    readers: ChartReadersConfig = Field(default_factory=ChartReadersConfig)
    # A central repository this environment reads (another environment's or account's).
    central: CentralRepoConfig | None = None
    # Keep a repository of its own beside `central` (where `berth charts promote` writes);
    # default: yes without `central`, no with it (charts then come from there only).
    create_repository: bool | None = None
    # This account's roles that read charts (e.g. an in-cluster Argo CD or Flux): the stack
    # attaches the chart-reader policy to them, as to its CI deployer.
    reader_roles: list[RoleArn] = Field(default_factory=list)

    _principals = field_validator("publisher_principals")(_check_principals)
    _prefix = field_validator("prefix")(normalise_prefix)

    @property
    def owns_repository(self) -> bool:
        """True when the stack creates a repository (bucket) for this environment."""
        if self.create_repository is not None:
            return self.create_repository
        return self.central is None

    @model_validator(mode="after")
    def _own_repository_settings(self) -> HelmRepoConfig:
        if self.create_repository is False and self.central is None:
            raise ValueError(
                "create_repository: an environment without a central repository needs its own"
            )
        if not self.owns_repository:
            fields_set = self.model_fields_set
            for name in ("publisher_principals", "bucket_name", "prefix", "readers"):
                if name in fields_set and getattr(self, name):
                    raise ValueError(
                        f"{name}: only for a repository of its own; this environment reads"
                        " the central repository (set create_repository: true to keep one)"
                    )
        return self


class ClusterRemoteStateConfig(_Strict):
    """The cluster's own Terraform state, read for its endpoint and CA."""

    bucket: BucketName
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
    oidc_issuer_url: str = Field(pattern=HTTPS_URL.regex)
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
        return issuer_host_path(self.oidc_issuer_url)


class KubeconfigAccess(_Strict):
    """Reach the cluster through a context of a kubeconfig file; its credentials stay there."""

    # The kubeconfig on the machine that runs Terraform (`~` is the home folder there).
    path: str = Field(default="~/.kube/config", min_length=1)
    # The context to use, named so that a changed current-context never redirects a deploy.
    context: str = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _not_a_document(cls, value: str) -> str:
        if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
            raise ValueError("give the path of a kubeconfig file, never its content")
        return value


# Credential-plugin arguments that carry a secret value: pass it through `env` names instead.
_SECRET_ARGUMENT = re.compile(r"(?i)(token|password|secret|private[-_]?key)[^=]*=.+")


class ExecCredentialAccess(_Strict):
    """Reach the API server at `host` with a short-lived token from a client-go credential plugin.

    The plugin runs when Terraform (or a `berth` command) needs the cluster, on that machine,
    with that machine's environment: no token is written in this file, the JSON or the state.
    """

    # The API server, e.g. https://k8s.example.com:6443.
    host: str = Field(pattern=HTTPS_URL.regex)
    # The cluster's CA bundle as in a kubeconfig's `certificate-authority-data` (base64 PEM;
    # public data).
    certificate_authority_data: str = Field(min_length=1)
    # The plugin (on PATH) and its arguments, e.g. `kubelogin get-token ...`.
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    # Environment variables the plugin reads, by NAME only: their values come from the
    # environment of whoever runs Terraform (`berth preflight` checks they are set).
    env: list[str] = Field(default_factory=list)
    api_version: Literal[
        "client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"
    ] = "client.authentication.k8s.io/v1beta1"

    @field_validator("certificate_authority_data")
    @classmethod
    def _pem_bundle(cls, value: str) -> str:
        import base64
        import binascii

        try:
            decoded = base64.b64decode(value, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(
                "not base64 (copy certificate-authority-data from a kubeconfig)"
            ) from None
        if "-----BEGIN CERTIFICATE-----" not in decoded:
            raise ValueError("does not hold a PEM certificate")
        return value

    @field_validator("args")
    @classmethod
    def _no_secret_arguments(cls, values: list[str]) -> list[str]:
        for value in values:
            if _SECRET_ARGUMENT.search(value):
                raise ValueError(
                    f"{value.split('=', 1)[0]}=...: a secret value never goes in this file; let the"
                    " plugin read it from an environment variable named in `env`"
                )
        return values

    @field_validator("env")
    @classmethod
    def _names_only(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise ValueError(
                    f"{value!r} is not an environment variable name (names only, no values)"
                )
        return values

    @property
    def certificate_authority_pem(self) -> str:
        import base64

        return base64.b64decode(self.certificate_authority_data).decode("ascii")


class ExternalClusterConfig(_Strict):
    """A Kubernetes cluster outside EKS (on premises or another cloud) that pulls from this
    account's ECR through pull secrets the refresher keeps fresh (section `ecr_refresher`)."""

    # What operators call the cluster (messages and the review report).
    name: str = Field(min_length=1, max_length=100)
    # How Terraform and `berth` commands reach its API: exactly one of these two.
    kubeconfig: KubeconfigAccess | None = None
    exec: ExecCredentialAccess | None = None
    # The cluster's service-account token issuer (`--service-account-issuer`), when AWS can
    # fetch its `/.well-known/openid-configuration` and keys over HTTPS: then the refresher
    # federates through it (ecr_refresher.identity: web_identity) and holds no access key.
    oidc_issuer_url: str | None = Field(default=None, pattern=HTTPS_URL.regex)
    # The issuer's IAM OIDC provider: `lookup` (made beforehand) or `create` (by the stack).
    oidc_provider: Literal["lookup", "create"] = "lookup"

    @model_validator(mode="after")
    def _one_way_in(self) -> ExternalClusterConfig:
        if (self.kubeconfig is None) == (self.exec is None):
            raise ValueError(
                "kubeconfig: say how the cluster is reached: a kubeconfig (path, context) or an"
                " exec credential plugin (host, certificate_authority_data, command), not both"
            )
        return self

    @property
    def oidc_issuer_host_path(self) -> str | None:
        if self.oidc_issuer_url is None:
            return None
        return issuer_host_path(self.oidc_issuer_url)


# A label selector term `key=value`: key `[prefix/]name`, value empty or a label value.
_LABEL_TERM = re.compile(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
    r"=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
)


def _selector_terms(selector: str) -> list[str]:
    return [term.strip() for term in selector.split(",") if term.strip()]


class PullSecretNamespaces(_Strict):
    """Which namespaces get the pull secret: exactly one of the three."""

    # These namespaces (RBAC: a Role in each; the narrowest).
    namespaces: list[str] = Field(default_factory=list)
    # Namespaces carrying these labels, `key=value[,key=value]` (RBAC: a ClusterRole); new
    # ones are served at once.
    selector: str = ""
    # Every namespace (RBAC: a ClusterRole).
    all: bool = False

    _namespaces = field_validator("namespaces")(_check_target_namespaces)

    @field_validator("selector")
    @classmethod
    def _equality_terms(cls, value: str) -> str:
        # Equality terms only, so the refresher's own namespace can be given the labels.
        for term in _selector_terms(value):
            if not _LABEL_TERM.fullmatch(term):
                raise ValueError(
                    f"{term!r}: write the selector as key=value terms joined by commas"
                )
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> PullSecretNamespaces:
        if sum([bool(self.namespaces), bool(self.selector), self.all]) != 1:
            raise ValueError("namespaces: choose exactly one of namespaces, selector or all")
        return self

    @property
    def selector_labels(self) -> dict[str, str]:
        """The labels the selector asks for (empty unless it is the mode)."""
        return dict(term.split("=", 1) for term in _selector_terms(self.selector))


class BuildsConfig(_Strict):
    """In-cluster image builds (Tekton, Knative): a docker login that may push."""

    # Namespaces the builds run in (they must exist): each gets the builder ServiceAccount and
    # the basic-auth docker Secret with the Tekton/Knative annotations.
    namespaces: list[str] = Field(min_length=1)
    # The ServiceAccount the builds run as (created by the release in each namespace).
    service_account: str = Field(default="builder", pattern=DNS_SUBDOMAIN.regex)
    # Repositories the builds push to, created by the account stack as `<name_prefix>/<name>`;
    # the build login may push to these and nothing else.
    repositories: list[str] = Field(min_length=1)

    _namespaces = field_validator("namespaces")(_check_target_namespaces)

    @field_validator("repositories")
    @classmethod
    def _repository_names(cls, values: list[str]) -> list[str]:
        for value in values:
            problem = ecr_repository_name_problem(value)
            if problem:
                raise ValueError(problem)
            if value in APP_IMAGES:
                raise ValueError(f"{value!r} is the repository of Berth's own {value} image")
        if len(set(values)) != len(values):
            raise ValueError("names a repository twice")
        return values


class EcrRefresherConfig(_Strict):
    """Docker logins for this account's ECR, kept fresh in a cluster outside AWS."""

    # The refresher's AWS identity: `web_identity` (a role trusted through the cluster's OIDC
    # issuer; no key anywhere) or `iam_user` (a user without keys in Terraform; its key is
    # made and rotated by `berth refresher rotate-key ENV`, straight into the cluster).
    identity: Literal["web_identity", "iam_user"]
    # Namespace of the refresher releases (created by the cluster stack, Pod Security
    # restricted); it always gets the pull secret too, for the refresher's own image.
    namespace: str = Field(default="ecr-credential-refresher", pattern=DNS_LABEL.regex)
    # Which namespaces get the pull secret.
    pull_secret_namespaces: PullSecretNamespaces
    # ServiceAccounts in each of them whose imagePullSecrets get it, e.g. [default].
    patch_service_accounts: list[str] = Field(default_factory=list)
    # In-cluster builds that push to this account's ECR; None: no build login.
    builds: BuildsConfig | None = None

    _namespace = field_validator("namespace")(_check_namespace)

    @field_validator("patch_service_accounts")
    @classmethod
    def _account_names(cls, values: list[str]) -> list[str]:
        for value in values:
            if not DNS_SUBDOMAIN.match(value):
                raise ValueError(f"{value!r} is not a ServiceAccount name")
        return values

    @property
    def target_namespaces(self) -> list[str]:
        """The list mode's namespaces plus the refresher's own (its image is pulled with it)."""
        names = self.pull_secret_namespaces.namespaces
        return sorted({*names, self.namespace}) if names else []


class DeployRoleConfig(_Strict):
    """The role Terraform assumes to deploy this environment (operators and CI assume into it)."""

    role_arn: RoleArn
    # Shows in CloudTrail as who deployed.
    session_name: str = Field(default="berth-deploy", pattern=r"^[\w+=,.@-]{2,64}$")
    external_id: str | None = Field(default=None, min_length=2, max_length=1224)


class StateBackendConfig(_Strict):
    """Where Terraform keeps this environment's state (S3, encrypted, with a lock file).

    Reached through the deploy role, like the provider: operators need nothing but the right
    to assume that role.
    """

    bucket: BucketName
    region: Region
    # Each stack keeps `<key_prefix><stack>.tfstate`, e.g. `berth/uat-workloads.tfstate`.
    key_prefix: str = Field(default="berth/", pattern=r"^([\w.=@-]+/)*$")
    kms_key_id: str | None = None


class CiConfig(_Strict):
    """Roles CI (GitHub Actions) assumes through OIDC: no IAM user keys."""

    # GitHub repository "owner/name" whose workflows may assume the roles.
    repository: str = Field(pattern=GITHUB_REPOSITORY.regex)
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
    tag: Annotated[str, _follows(image_tag_problem)] = "0.1.0"

    _principals = field_validator("push_principals", "pull_principals")(_check_principals)


class ObservabilityConfig(_Strict):
    """The OpenTelemetry agent and the Coralogix key it reads through AppConfig."""

    # Coralogix domain of the account, e.g. eu2.coralogix.com.
    coralogix_domain: HostName
    # Secret holding the private key (set with `berth secret put ENV NAME`).
    secret_name: str = Field(default="coralogix-private-key", pattern=SECRET_NAME.regex)
    # Kubernetes namespace of the agent (created by the cluster stack).
    namespace: str = Field(default="observability", pattern=DNS_LABEL.regex)
    # deployment (an OTLP gateway) or daemonset (one collector per node).
    mode: Literal["deployment", "daemonset"] = "deployment"
    # When the secret is a JSON object, the field holding the key ("" = the whole value).
    json_key: str = ""

    _namespace = field_validator("namespace")(_check_namespace)


class S3ProxyConfig(_Strict):
    """An HTTPS front (basic auth) for a private content bucket."""

    # Host name the Ingress serves.
    host: HostName
    # Overrides the derived `<name_prefix>-s3proxy-content` bucket name.
    bucket_name: BucketName | None = None
    # Serve only keys below this prefix.
    prefix: str = ""
    # Object served for `/` and paths ending in `/`.
    index_document: str = ""
    # A folder the stack uploads to the bucket (below `prefix`), relative to this file; the
    # `index_document`, when set, must be one of its top-level files.
    content_dir: Path | None = None
    # Existing Secret with an `htpasswd` key (bcrypt lines): hashes stay out of state.
    htpasswd_secret_name: str = Field(pattern=DNS_SUBDOMAIN.regex)
    # Secret with the Ingress certificate; or let the chart sign one (non-production only).
    tls_secret_name: str | None = None
    allow_self_signed_tls: bool = False
    # Kubernetes namespace of the proxy (created by the cluster stack).
    namespace: str = Field(default="s3proxy", pattern=DNS_LABEL.regex)
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
    # A cluster outside EKS (instead of `cluster`), served by the ECR credential refresher.
    external_cluster: ExternalClusterConfig | None = None
    # The refresher (and the build login) for `external_cluster`; needs images.
    ecr_refresher: EcrRefresherConfig | None = None

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
        if self.emulator and (self.deploy_role is not None or self.has_cluster):
            raise ValueError(
                "deploy_role: the emulator environment has no deploy role and no cluster"
            )
        return self

    @model_validator(mode="after")
    def _external_cluster_is_served(self) -> Environment:
        external, refresher = self.external_cluster, self.ecr_refresher
        if external is not None and self.cluster is not None:
            raise ValueError(
                "external_cluster: an environment has one cluster: `cluster` (EKS) or"
                " `external_cluster`, not both"
            )
        if (external is None) != (refresher is None):
            raise ValueError(
                "ecr_refresher: an external_cluster needs an ecr_refresher section and an"
                " ecr_refresher an external_cluster (it is how that cluster pulls from ECR)"
            )
        if refresher is None or external is None:
            return self
        if self.images is None:
            raise ValueError(
                "images: the refresher runs from this account's ECR; add an images section"
            )
        if refresher.identity == "web_identity" and external.oidc_issuer_url is None:
            raise ValueError(
                "ecr_refresher.identity: web_identity needs external_cluster.oidc_issuer_url"
                " (an issuer AWS can reach); without one use iam_user"
            )
        if refresher.identity == "iam_user" and external.oidc_issuer_url is not None:
            raise ValueError(
                "ecr_refresher.identity: iam_user leaves external_cluster.oidc_issuer_url unused;"
                " choose web_identity (no key at all) or remove the issuer"
            )
        return self

    @model_validator(mode="after")
    def _principals_are_external(self) -> Environment:
        """Principal lists name what exists outside the stack; the stack adds its own roles."""
        if self.state_backend is not None and self.ci is not None:
            kms = self.state_backend.kms_key_id
            if kms is not None and not KMS_KEY_ARN.match(kms):
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
            own = role_arn(self.account_id, created[field])
            if self.ci is not None and own in principals:
                raise ValueError(
                    f"{field}: {own} is the CI role this environment's stack creates (ci);"
                    " remove it from the list, the stack adds it"
                )
        if (
            self.ci is None
            and self.helm_repo.owns_repository
            and not (self.helm_repo.publisher_principals)
        ):
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

    @model_validator(mode="after")
    def _chart_readers_are_placed_right(self) -> Environment:
        """Other accounts read through `readers`; this account's roles through `reader_roles`."""
        helm_repo = self.helm_repo
        readers = helm_repo.readers
        if self.account_id in readers.accounts:
            raise ValueError(
                f"helm_repo.readers.accounts: {self.account_id} is this environment's own"
                " account; its roles read through IAM: list them in helm_repo.reader_roles"
            )
        own = f":iam::{self.account_id}:role/"
        for role in readers.roles:
            if own in role:
                raise ValueError(
                    f"helm_repo.readers.roles: {role} is a role of this account; list it in"
                    " helm_repo.reader_roles (the stack attaches the chart-reader policy to it)"
                )
        created = self._created_role_names()
        for role in helm_repo.reader_roles:
            if own not in role:
                raise ValueError(
                    f"helm_repo.reader_roles: {role} is not a role of this account"
                    f" ({self.account_id}); another account's roles read through the owner's"
                    " helm_repo.readers"
                )
            if role.rsplit("/", 1)[-1] in created:
                raise ValueError(
                    f"helm_repo.reader_roles: {role} is a role this environment's stack creates;"
                    " remove it from the list, the stack grants its own roles"
                )
        central = helm_repo.central
        if central is not None and central.environment == self.name:
            raise ValueError(
                "helm_repo.central.environment: names this environment; name the owner of the"
                " central repository"
            )
        return self

    def _created_role_names(self) -> set[str]:
        """The IAM roles this environment's account stack creates."""
        names: set[str] = set()
        if self.ci is not None:
            roles = ci_role_names(self.name_prefix)
            names |= {roles.chart_publisher, roles.image_publisher, roles.deployer}
        for identity in (self.otel_agent_identity, self.s3_proxy_identity):
            if identity is not None:
                names.add(identity.role_name)
        return names

    @property
    def default_tags(self) -> dict[str, str]:
        return {**self.tags, "Environment": self.name, "ManagedBy": "berth"}

    @property
    def account_root_arn(self) -> str:
        return account_root_arn(self.account_id)

    @property
    def helm_repo_bucket_name(self) -> str:
        return self.helm_repo.bucket_name or f"{self.name_prefix}-helm-charts"

    @property
    def chart_repository(self) -> ChartRepositoryLocation | None:
        """This environment's own chart repository (None when it reads the central one only)."""
        if not self.helm_repo.owns_repository:
            return None
        return ChartRepositoryLocation(
            bucket=self.helm_repo_bucket_name, prefix=self.helm_repo.prefix, region=self.region
        )

    @property
    def chart_reader_policy_name(self) -> str:
        return chart_reader_policy_name(self.name_prefix)

    @property
    def s3_proxy_bucket_name(self) -> str:
        configured = self.s3_proxy.bucket_name if self.s3_proxy else None
        return configured or f"{self.name_prefix}-s3proxy-content"

    @property
    def stacks(self) -> StackNames:
        """This environment's stack names (`uat`, `uat-cluster`, `uat-workloads`)."""
        return stack_names(self.name)

    @property
    def looked_up_oidc_issuer(self) -> str | None:
        """The cluster issuer whose IAM OIDC provider the account stack looks up (must exist
        beforehand): EKS's unless the stack creates it; an external cluster's with web identity."""
        if self.cluster is not None:
            return self.cluster.oidc_issuer_url if self.cluster.oidc_provider == "lookup" else None
        external = self.external_cluster
        if external is None or external.oidc_provider != "lookup":
            return None
        return external.oidc_issuer_url

    @property
    def has_cluster(self) -> bool:
        """Whether a cluster (EKS or external) gets the cluster and workloads stacks."""
        return self.cluster is not None or self.external_cluster is not None

    @property
    def stack_names(self) -> tuple[str, ...]:
        """The stacks this environment synthesizes: the cluster halves only with a cluster."""
        return self.stacks.all if self.has_cluster else (self.stacks.account,)

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
        principals = [*self.helm_repo.publisher_principals, *self.helm_repo.reader_roles]
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
    def build_repositories(self) -> dict[str, str]:
        """Build repository (as the file names it) -> ECR repository name."""
        builds = self.ecr_refresher.builds if self.ecr_refresher else None
        if builds is None:
            return {}
        return {name: image_repository_name(self.name_prefix, name) for name in builds.repositories}

    @property
    def ecr_refresher_release(self) -> CredentialsRelease | None:
        """The pull release on the external cluster (None without one)."""
        if self.ecr_refresher is None:
            return None
        return ecr_refresher_release(self.name_prefix, self.ecr_refresher.namespace)

    @property
    def ecr_builder_release(self) -> CredentialsRelease | None:
        """The build release (None without `ecr_refresher.builds`)."""
        if self.ecr_refresher is None or self.ecr_refresher.builds is None:
            return None
        return ecr_builder_release(self.name_prefix, self.ecr_refresher.namespace)

    @property
    def credentials_releases(self) -> tuple[CredentialsRelease, ...]:
        """Every refresher release of the environment: the pull one, then the build one."""
        found = (self.ecr_refresher_release, self.ecr_builder_release)
        return tuple(release for release in found if release is not None)

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
        namespaces = {i.namespace for i in identities if i is not None}
        namespaces |= {release.namespace for release in self.credentials_releases}
        return tuple(sorted(namespaces))


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


def parse_environment(path: Path, document: Any, *, resolving: tuple[str, ...] = ()) -> Environment:
    """Validate one parsed environment document; errors name `path` and the field.

    A central repository named by environment is resolved from that environment's file in the
    same folder (its bucket, prefix and region, and whether its readers admit this account).
    """
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(document).__name__}")
    if document.get("name", path.stem) != path.stem:
        raise ConfigError(
            f"{path}: name: {document['name']!r} must match the file name {path.stem!r}"
        )
    try:
        environment = Environment.model_validate(
            {"name": path.stem, **document}, context={"base_dir": path.parent}
        )
    except ValidationError as error:
        raise ConfigError(f"{path}: {_describe(error)}") from None
    return _resolve_central(environment, path, (*resolving, environment.name))


def _resolve_central(
    environment: Environment, path: Path, resolving: tuple[str, ...]
) -> Environment:
    """`environment` with `helm_repo.central` filled in from its owner's file."""
    central = environment.helm_repo.central
    if central is None or central.environment is None:
        return environment
    field = "helm_repo.central.environment"
    if central.environment in resolving:
        raise ConfigError(
            f"{path}: {field}: {central.environment!r} reads its charts from"
            f" {environment.name!r} in turn; name the environment that owns the repository"
        )
    owner_path = path.parent / f"{central.environment}.yaml"
    try:
        owner = load_environment_file(owner_path, resolving=resolving)
    except ConfigError as error:
        raise ConfigError(f"{path}: {field}: {error}") from None
    location = owner.chart_repository
    if location is None:
        raise ConfigError(
            f"{path}: {field}: {owner.name} has no repository of its own ({owner_path})"
        )
    problems = []
    if central.bucket is not None and central.bucket != location.bucket:
        problems.append(f"bucket {central.bucket} is not {owner.name}'s ({location.bucket})")
    if central.prefix is not None and central.prefix != location.prefix:
        problems.append(f"prefix {central.prefix!r} is not {owner.name}'s ({location.prefix!r})")
    if central.account_id != owner.account_id or central.key_region != owner.region:
        problems.append(
            f"kms_key_arn names account {central.account_id} in {central.key_region};"
            f" {owner.name}'s key is in account {owner.account_id} in {owner.region}"
            " (its stack's output helm_repo_kms_key_arn)"
        )
    if owner.helm_repo.readers.admits_account(environment.account_id) is False:
        problems.append(
            f"{owner.name}'s helm_repo.readers do not include account"
            f" {environment.account_id} (add it to readers.accounts, or one of its roles to"
            f" readers.roles, in {owner_path})"
        )
    if problems:
        raise ConfigError(f"{path}: {field}: {'; '.join(problems)}")
    resolved = central.model_copy(
        update={"bucket": location.bucket, "prefix": location.prefix, "region": location.region}
    )
    helm_repo = environment.helm_repo.model_copy(update={"central": resolved})
    return environment.model_copy(update={"helm_repo": helm_repo})


def load_environment_file(path: Path, *, resolving: tuple[str, ...] = ()) -> Environment:
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
    return parse_environment(path, document, resolving=resolving)


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
