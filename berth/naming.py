"""Names shared by the constructs and the `berth` command, derived in one place.

Light on purpose (no provider bindings): `berth secret put` imports it at run time and must find
exactly the secret and AppConfig resources that `SecretAppConfig` created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lowercase words joined by dashes: valid in Secrets Manager, AppConfig, IAM and Terraform names.
SECRET_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,46}[a-z0-9]$")


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
    if not SECRET_NAME_PATTERN.match(name):
        raise ValueError(
            f"name: {name!r} must be lowercase words joined by dashes (2-48 characters)"
        )
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


# CI roles (GitHub OIDC) the account stack creates when the environment file has a `ci` block.
CHART_PUBLISHER_ROLE_SUFFIX = "-chart-publisher"
IMAGE_PUBLISHER_ROLE_SUFFIX = "-image-publisher"
DEPLOYER_ROLE_SUFFIX = "-deployer"


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
