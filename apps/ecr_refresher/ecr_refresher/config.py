"""Configuration from environment variables, typed and validated in one place.

Every problem is reported as ONE line that names the variable (`ConfigError`), so a pod that
starts with a bad value says exactly which value to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

PREFIX = "ECR_REFRESHER_"
VAR_NAMESPACES = f"{PREFIX}NAMESPACES"
VAR_SELECTOR = f"{PREFIX}NAMESPACE_SELECTOR"
VAR_ALL = f"{PREFIX}ALL_NAMESPACES"

# RFC 1123 label (namespaces) and subdomain (secrets, service accounts), as Kubernetes checks them.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_REGISTRY_ID = re.compile(r"^[0-9]{12}$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# An ECR token lives 12 h; a margin beyond half of that would refresh more often than it renews.
_MAX_MARGIN = timedelta(hours=6)
_MIN_MARGIN = timedelta(minutes=1)


class ConfigError(ValueError):
    """A configuration value is missing or wrong; str() is one line naming the variable."""


class TargetMode(StrEnum):
    """Which namespaces receive the pull secret."""

    LIST = "list"
    SELECTOR = "selector"
    ALL = "all"


def split_list(raw: str) -> list[str]:
    """Split a comma- and/or space-separated list, dropping empty items and duplicates."""
    items = [item for item in re.split(r"[,\s]+", raw.strip()) if item]
    return list(dict.fromkeys(items))


def parse_duration(raw: str) -> timedelta:
    """Parse `90s`, `30m`, `1h30m` or a plain number of seconds."""
    text = raw.strip().lower()
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise PydanticCustomError(
            "duration", "'{raw}' is not a duration (e.g. 30m, 1h, 90s)", {"raw": raw}
        )
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _check_names(names: list[str], pattern: re.Pattern[str], what: str) -> list[str]:
    for name in names:
        if not pattern.fullmatch(name):
            raise PydanticCustomError(
                "name", "'{name}' is not a valid {what}", {"name": name, "what": what}
            )
    return names


def _parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"", "0", "false", "no", "off"}:
        return False
    raise PydanticCustomError("bool", "'{raw}' is not a boolean (true/false)", {"raw": raw})


class Config(BaseModel):
    """The refresher's settings. Field aliases are the environment variable names."""

    # Unknown ECR_REFRESHER_* variables are ignored: Kubernetes service links inject some.
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # AWS region of the registry (AWS_REGION, falling back to AWS_DEFAULT_REGION).
    region: str = Field(alias="AWS_REGION", min_length=1)
    # Name of the kubernetes.io/dockerconfigjson secret written into each target namespace.
    secret_name: str = Field(default="ecr-pull", alias="ECR_REFRESHER_SECRET_NAME")
    # Explicit target namespaces (mode "list").
    namespaces: list[str] = Field(default_factory=list, alias="ECR_REFRESHER_NAMESPACES")
    # Label selector choosing target namespaces (mode "selector").
    namespace_selector: str = Field(default="", alias="ECR_REFRESHER_NAMESPACE_SELECTOR")
    # Every namespace is a target (mode "all").
    all_namespaces: bool = Field(default=False, alias="ECR_REFRESHER_ALL_NAMESPACES")
    # Service accounts (in each target namespace) whose imagePullSecrets get the pull secret.
    service_accounts: list[str] = Field(
        default_factory=list, alias="ECR_REFRESHER_SERVICE_ACCOUNTS"
    )
    # ECR registry (account) IDs; empty means the caller's own registry.
    registry_ids: list[str] = Field(default_factory=list, alias="ECR_REFRESHER_REGISTRY_IDS")
    # Refresh this long before the token's own expiresAt.
    refresh_margin: timedelta = Field(
        default=timedelta(minutes=30), alias="ECR_REFRESHER_REFRESH_MARGIN"
    )
    # Name of the optional kubernetes.io/basic-auth secret for Tekton/Knative builds.
    builder_secret_name: str = Field(default="", alias="ECR_REFRESHER_BUILDER_SECRET_NAME")
    # Service account whose `secrets` get the builder secret (and imagePullSecrets the pull secret).
    builder_service_account: str = Field(default="", alias="ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT")
    # Port of the /healthz, /readyz and /metrics server (0 disables it).
    metrics_port: int = Field(default=9100, ge=0, le=65535, alias="ECR_REFRESHER_METRICS_PORT")
    # How soon namespaces that failed are tried again (between full refreshes).
    retry_interval: timedelta = Field(
        default=timedelta(seconds=60), alias="ECR_REFRESHER_RETRY_INTERVAL"
    )
    # Attempts per namespace within one refresh, with bounded exponential backoff between them.
    attempts: int = Field(default=4, ge=1, le=10, alias="ECR_REFRESHER_ATTEMPTS")
    # Namespaces written in parallel.
    concurrency: int = Field(default=8, ge=1, le=64, alias="ECR_REFRESHER_CONCURRENCY")
    # Python logging level name.
    log_level: str = Field(default="INFO", alias="ECR_REFRESHER_LOG_LEVEL")
    # ConfigMap (made by the chart) where the refresher reports which access key its current
    # token came from ("" = no report).
    status_config_map: str = Field(default="", alias="ECR_REFRESHER_STATUS_CONFIGMAP")
    # Namespace of that ConfigMap (the refresher's own).
    status_namespace: str = Field(default="", alias="ECR_REFRESHER_STATUS_NAMESPACE")
    # How often a shared-credentials file is checked for a rotated key.
    credentials_check_interval: timedelta = Field(
        default=timedelta(seconds=15), alias="ECR_REFRESHER_CREDENTIALS_CHECK_INTERVAL"
    )

    @field_validator("namespaces", "service_accounts", "registry_ids", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return split_list(value) if isinstance(value, str) else value

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        return _check_names(value, _DNS_LABEL, "namespace name")

    @field_validator("service_accounts")
    @classmethod
    def _service_accounts(cls, value: list[str]) -> list[str]:
        return _check_names(value, _DNS_SUBDOMAIN, "service account name")

    @field_validator("secret_name")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        return _check_names([value], _DNS_SUBDOMAIN, "secret name")[0]

    @field_validator("builder_secret_name", "builder_service_account", "status_config_map")
    @classmethod
    def _optional_name(cls, value: str) -> str:
        return _check_names([value], _DNS_SUBDOMAIN, "name")[0] if value else value

    @field_validator("status_namespace")
    @classmethod
    def _optional_namespace(cls, value: str) -> str:
        return _check_names([value], _DNS_LABEL, "namespace name")[0] if value else value

    @field_validator("registry_ids")
    @classmethod
    def _registry_ids(cls, value: list[str]) -> list[str]:
        return _check_names(value, _REGISTRY_ID, "registry ID (12 digits)")

    @field_validator("namespace_selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        return value.strip()

    @field_validator("all_namespaces", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> Any:
        return _parse_bool(value) if isinstance(value, str) else value

    @field_validator(
        "refresh_margin", "retry_interval", "credentials_check_interval", mode="before"
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("refresh_margin")
    @classmethod
    def _margin_bounds(cls, value: timedelta) -> timedelta:
        if not _MIN_MARGIN <= value <= _MAX_MARGIN:
            raise PydanticCustomError("margin", "must be between 1m and 6h (a token lives 12h)")
        return value

    @field_validator("retry_interval", "credentials_check_interval")
    @classmethod
    def _retry_bounds(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise PydanticCustomError("interval", "must be at least 1s")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise PydanticCustomError(
                "level", "'{raw}' is not DEBUG, INFO, WARNING or ERROR", {"raw": value}
            )
        return level

    @property
    def mode(self) -> TargetMode:
        """The one target mode (validated by `load_config`)."""
        if self.namespaces:
            return TargetMode.LIST
        return TargetMode.SELECTOR if self.namespace_selector else TargetMode.ALL

    @property
    def builder_enabled(self) -> bool:
        """Whether the Tekton/Knative basic-auth secret is maintained."""
        return bool(self.builder_secret_name)

    @property
    def watches_namespaces(self) -> bool:
        """Selector and all modes discover namespaces, so they watch for new ones."""
        return self.mode is not TargetMode.LIST


def _cross_checks(config: Config) -> None:
    """Rules that span several variables; each raises a ConfigError naming them."""
    modes = [
        name
        for name, chosen in (
            (VAR_NAMESPACES, bool(config.namespaces)),
            (VAR_SELECTOR, bool(config.namespace_selector)),
            (VAR_ALL, config.all_namespaces),
        )
        if chosen
    ]
    if len(modes) != 1:
        got = " and ".join(modes) if modes else "none"
        raise ConfigError(
            f"{VAR_NAMESPACES} / {VAR_SELECTOR} / {VAR_ALL}: set exactly one target mode"
            f" (got {got})"
        )
    if config.builder_service_account and not config.builder_secret_name:
        raise ConfigError(
            f"{PREFIX}BUILDER_SERVICE_ACCOUNT: needs {PREFIX}BUILDER_SECRET_NAME to be set too"
        )
    if bool(config.status_config_map) != bool(config.status_namespace):
        raise ConfigError(
            f"{PREFIX}STATUS_CONFIGMAP: set it together with {PREFIX}STATUS_NAMESPACE (or neither)"
        )
    if config.builder_secret_name and config.builder_secret_name == config.secret_name:
        raise ConfigError(
            f"{PREFIX}BUILDER_SECRET_NAME: must differ from {PREFIX}SECRET_NAME"
            f" ('{config.secret_name}')"
        )


def _first_error_line(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    variable = str(first["loc"][0]) if first["loc"] else "configuration"
    message = first["msg"]
    if first["type"] == "missing":
        message = "is required"
    return f"{variable}: {message}"


def load_config(environ: Mapping[str, str]) -> Config:
    """Build the Config from an environment mapping, or raise ConfigError (one line)."""
    values = {key: value for key, value in environ.items() if key.startswith(PREFIX)}
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        values["AWS_REGION"] = region
    try:
        config = Config.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_first_error_line(error)) from None
    _cross_checks(config)
    return config
