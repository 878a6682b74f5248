"""Names shared by the constructs and the `berth` command, derived in one place.

Light on purpose (no provider bindings): `berth secret put` imports it at run time and must find
exactly the secret and AppConfig resources that `SecretAppConfig` created.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth_core.validation import SECRET_NAME


@dataclass(frozen=True)
class SecretAppConfigNames:
    """Every name of one secret delivered through AppConfig."""

    # Secrets Manager secret, `<name_prefix>/<name>`.
    secret: str
    # AppConfig application, one per secret so its permissions stay separate.
    application: str
    # AppConfig environment: the Berth environment name.
    environment: str
    # AppConfig configuration profile (`secretsmanager://<secret>`).
    profile: str
    # AppConfig deployment strategy used for rotations.
    deployment_strategy: str
    # Retrieval role AppConfig assumes to read the secret.
    retrieval_role: str
    # Terraform variable (ephemeral) carrying the value, and the one carrying its version.
    value_variable: str
    value_version_variable: str


def secret_app_config_names(name_prefix: str, environment: str, name: str) -> SecretAppConfigNames:
    """The names of secret `name` (e.g. `coralogix-private-key`) in one environment."""
    if not SECRET_NAME.match(name):
        raise ValueError(f"name: {name!r} must be {SECRET_NAME.kind}")
    retrieval_role = f"{name_prefix}-{name}-appconfig"
    if len(retrieval_role) > 64:
        raise ValueError(f"name: {retrieval_role!r} is longer than an IAM role name may be (64)")
    snake = name.replace("-", "_")
    return SecretAppConfigNames(
        secret=f"{name_prefix}/{name}",
        application=f"{name_prefix}-{name}",
        environment=environment,
        profile=name,
        deployment_strategy=f"{name_prefix}-{name}-all-at-once",
        retrieval_role=retrieval_role,
        value_variable=f"{snake}_value",
        value_version_variable=f"{snake}_value_version",
    )


# Stacks of one environment. The account stack keeps the environment's own name, so
# `cdktf deploy uat` still deploys uat's AWS resources; the Kubernetes halves follow it.
CLUSTER_STACK_SUFFIX = "-cluster"
WORKLOADS_STACK_SUFFIX = "-workloads"


@dataclass(frozen=True)
class StackNames:
    """The stacks of one environment, in the order a first deploy applies them."""

    # AWS resources of the account: buckets, registries, secrets, AppConfig, IAM roles.
    account: str
    # In-cluster foundations: the namespaces (Pod Security labels) the workloads land in.
    cluster: str
    # The Helm releases, installed once their prerequisites exist.
    workloads: str

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.account, self.cluster, self.workloads)


def stack_names(environment: str) -> StackNames:
    return StackNames(
        account=environment,
        cluster=f"{environment}{CLUSTER_STACK_SUFFIX}",
        workloads=f"{environment}{WORKLOADS_STACK_SUFFIX}",
    )


# Runtime apps whose images each environment keeps in its own ECR repository.
APP_IMAGES = ("s3proxy", "ecr-refresher", "appconfig-fetch")


def image_repository_name(name_prefix: str, app: str) -> str:
    """ECR repository of a runtime app's image, e.g. `berth-uat/s3proxy`."""
    return f"{name_prefix}/{app}"


def account_root_arn(account_id: str) -> str:
    """The account's root principal: in a resource policy, the account's IAM policies decide."""
    return f"arn:aws:iam::{account_id}:root"


def role_arn(account_id: str, role_name: str) -> str:
    """The ARN of role `role_name` (no path) of `account_id`."""
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def issuer_host_path(issuer_url: str) -> str:
    """An OIDC issuer without its scheme (`oidc.eks.REGION.amazonaws.com/id/ID`): the name of its
    IAM OIDC provider and the prefix of the trust condition keys (`ISSUER:sub`, `ISSUER:aud`)."""
    return issuer_url.removeprefix("https://").rstrip("/")


def oidc_provider_arn(account_id: str, issuer_url: str, partition: str = "aws") -> str:
    """The ARN of the account's IAM OIDC provider for an issuer (`https://...` or host/path).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html"""
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer_host_path(issuer_url)}"


# CI roles (GitHub OIDC) the account stack creates when the environment file has a `ci` block.
CHART_PUBLISHER_ROLE_SUFFIX = "-chart-publisher"
IMAGE_PUBLISHER_ROLE_SUFFIX = "-image-publisher"
DEPLOYER_ROLE_SUFFIX = "-deployer"
CI_ROLE_SUFFIXES = (CHART_PUBLISHER_ROLE_SUFFIX, IMAGE_PUBLISHER_ROLE_SUFFIX, DEPLOYER_ROLE_SUFFIX)


@dataclass(frozen=True)
class CiRoleNames:
    chart_publisher: str
    image_publisher: str
    deployer: str


def ci_role_names(name_prefix: str) -> CiRoleNames:
    return CiRoleNames(
        chart_publisher=f"{name_prefix}{CHART_PUBLISHER_ROLE_SUFFIX}",
        image_publisher=f"{name_prefix}{IMAGE_PUBLISHER_ROLE_SUFFIX}",
        deployer=f"{name_prefix}{DEPLOYER_ROLE_SUFFIX}",
    )


# The IAM policy that lets an environment's roles read the chart repositories it uses.
CHART_READER_POLICY_SUFFIX = "-chart-reader"


def chart_reader_policy_name(name_prefix: str) -> str:
    """e.g. `berth-prod-chart-reader`, attached to the deployer and the listed reader roles."""
    return f"{name_prefix}{CHART_READER_POLICY_SUFFIX}"


@dataclass(frozen=True)
class WorkloadIdentity:
    """Who a workload runs as: one ServiceAccount and the IAM role that only it may assume.

    The account stack writes the role's trust (`system:serviceaccount:NAMESPACE:NAME`), the
    workloads stack gives the chart the same namespace and name: both read this one value.
    """

    namespace: str
    service_account: str
    role_name: str

    @property
    def subject(self) -> str:
        """The token subject Kubernetes issues for the ServiceAccount."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def workload_identity(name_prefix: str, workload: str, namespace: str) -> WorkloadIdentity:
    """The identity of `workload` (e.g. `otel-agent`): ServiceAccount `workload` in `namespace`,
    role `<name_prefix>-<workload>`."""
    return WorkloadIdentity(
        namespace=namespace, service_account=workload, role_name=f"{name_prefix}-{workload}"
    )


# Registry credentials on a cluster outside AWS: releases of `charts/ecr-credential-refresher`.
# The pull release keeps a docker login for this account's ECR in the pull-secret namespaces;
# the build release gives the build namespaces a login that may also push, as a second AWS
# identity, so a pull secret never carries push rights.
ECR_REFRESHER_RELEASE = "ecr-credential-refresher"
ECR_BUILDER_RELEASE = "ecr-build-credentials"
# The refresher image's own pull secret in its namespace: made once by hand (README), then kept
# fresh by the pull release, whose targets always include its own namespace.
ECR_PULL_SECRET = "ecr-pull"  # noqa: S105 - an object name, not a secret


@dataclass(frozen=True)
class CredentialsRelease:
    """One release of the refresher chart and the AWS identity it runs as.

    The account stack names the IAM role or user after `iam_name`, the workloads stack installs
    the release, and `berth refresher rotate-key` finds the user, its Secret and the status the
    refresher reports: all from this one value.
    """

    # Helm release name; also its ServiceAccount's name and the chart's full name.
    release: str
    # Namespace of the release (created by the cluster stack).
    namespace: str
    # The IAM role (web identity) or IAM user (access key) it runs as.
    iam_name: str
    # Secret (IAM user mode) whose `credentials` key holds the user's access key, written only
    # by `berth refresher rotate-key`.
    credentials_secret: str
    # ConfigMap where the refresher reports the access key id it last got a token with.
    status_config_map: str
    # kubernetes.io/dockerconfigjson Secret it writes into each target namespace.
    pull_secret: str
    # kubernetes.io/basic-auth Secret with Tekton/Knative annotations ("" = none).
    builder_secret: str = ""

    @property
    def service_account(self) -> str:
        return self.release

    @property
    def subject(self) -> str:
        """The token subject Kubernetes issues for the release's ServiceAccount."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def ecr_refresher_release(name_prefix: str, namespace: str) -> CredentialsRelease:
    """The pull release: pull rights on this environment's repositories only."""
    return CredentialsRelease(
        release=ECR_REFRESHER_RELEASE,
        namespace=namespace,
        iam_name=f"{name_prefix}-ecr-refresher",
        credentials_secret=f"{ECR_REFRESHER_RELEASE}-aws",
        status_config_map=f"{ECR_REFRESHER_RELEASE}-status",
        pull_secret=ECR_PULL_SECRET,
    )


def ecr_builder_release(name_prefix: str, namespace: str) -> CredentialsRelease:
    """The build release: push rights on the build repositories the file lists."""
    return CredentialsRelease(
        release=ECR_BUILDER_RELEASE,
        namespace=namespace,
        iam_name=f"{name_prefix}-ecr-builder",
        credentials_secret=f"{ECR_BUILDER_RELEASE}-aws",
        status_config_map=f"{ECR_BUILDER_RELEASE}-status",
        pull_secret="ecr-build-pull",  # noqa: S106 - an object name, not a secret
        builder_secret="ecr-push",  # noqa: S106 - an object name, not a secret
    )
