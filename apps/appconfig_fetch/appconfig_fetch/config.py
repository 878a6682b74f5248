"""Typed settings of the fetcher, read once from the environment and validated in one place.

Every problem is reported as ONE line that names the variable, so a pod's last log line says
exactly what to fix (`ConfigError` is turned into exit code 1 by the entry point).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# AppConfigData accepts 15..86400 s for RequiredMinimumPollIntervalInSeconds (service model).
MIN_POLL_INTERVAL_S = 15
MAX_POLL_INTERVAL_S = 86_400
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message is one line starting with the variable."""


@dataclass(frozen=True, kw_only=True)
class FetchConfig:
    """Everything the fetcher needs; built by `load_config` from environment variables."""

    # AppConfig application, environment and configuration profile (ids or names).
    application: str
    environment: str
    profile: str
    # AWS region of the AppConfig application.
    region: str
    # File that receives the value; its directory should be an in-memory emptyDir.
    output_path: Path
    # Field to extract when the value is a JSON object ("" writes the value as is).
    json_key: str = ""
    # Lower bound we ask AppConfig for; the service may answer with a longer interval.
    poll_interval_s: int = 60
    # Ceiling of the exponential backoff after throttling or server errors.
    max_backoff_s: float = 60.0
    # Attempts in --once mode before giving up on retryable errors.
    once_max_attempts: int = 5
    # Address and port of the /healthz and /readyz endpoints (long-running mode only).
    health_address: str = "0.0.0.0"  # noqa: S104 - probes come from the kubelet, not loopback
    health_port: int = 8080
    # Level of our own log lines; AWS SDK loggers are always held at WARNING or above.
    log_level: str = "INFO"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required, not set")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _output_path(env: Mapping[str, str]) -> Path:
    name = "APPCONFIG_FETCH_OUTPUT"
    path = Path(_required(env, name))
    if not path.is_absolute():
        raise ConfigError(f"{name}: must be an absolute path, got {str(path)!r}")
    if path.name in ("", ".", ".."):
        raise ConfigError(f"{name}: must name a file, got {str(path)!r}")
    return path


def _region(env: Mapping[str, str]) -> str:
    # botocore reads AWS_DEFAULT_REGION; EKS injects AWS_REGION. Accept either, prefer the latter.
    region = env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
    if not region:
        raise ConfigError("AWS_REGION: required, not set (nor AWS_DEFAULT_REGION)")
    return region


def _log_level(env: Mapping[str, str]) -> str:
    name = "APPCONFIG_FETCH_LOG_LEVEL"
    level = env.get(name, "INFO").strip().upper() or "INFO"
    if level not in _LOG_LEVELS:
        raise ConfigError(f"{name}: must be one of {', '.join(_LOG_LEVELS)}, got {level!r}")
    return level


def load_config(env: Mapping[str, str]) -> FetchConfig:
    """Build and validate the settings from `env` (normally `os.environ`)."""
    return FetchConfig(
        application=_required(env, "APPCONFIG_APPLICATION"),
        environment=_required(env, "APPCONFIG_ENVIRONMENT"),
        profile=_required(env, "APPCONFIG_PROFILE"),
        region=_region(env),
        output_path=_output_path(env),
        json_key=env.get("APPCONFIG_FETCH_JSON_KEY", "").strip(),
        poll_interval_s=_integer(
            env, "APPCONFIG_POLL_INTERVAL_SECONDS", 60, MIN_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S
        ),
        max_backoff_s=float(_integer(env, "APPCONFIG_FETCH_MAX_BACKOFF_SECONDS", 60, 1, 3600)),
        once_max_attempts=_integer(env, "APPCONFIG_FETCH_ONCE_MAX_ATTEMPTS", 5, 1, 100),
        health_address=env.get("APPCONFIG_FETCH_HEALTH_ADDRESS", "").strip() or "0.0.0.0",  # noqa: S104
        health_port=_integer(env, "APPCONFIG_FETCH_HEALTH_PORT", 8080, 0, 65535),
        log_level=_log_level(env),
    )


def logging_level(config: FetchConfig) -> int:
    """The `logging` module's number for the configured level."""
    return int(logging.getLevelName(config.log_level))
