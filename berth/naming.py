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
