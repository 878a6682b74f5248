"""Typed configuration read once from the environment.

Every setting is one environment variable. A missing or invalid value becomes a `ConfigError`
whose message is ONE line naming the variable; `python -m s3proxy` prints it and exits 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# S3 bucket naming rules (general purpose buckets), enough to catch typos before the first request.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

PositiveSeconds = Annotated[float, Field(gt=0, le=3600)]


class ConfigError(ValueError):
    """The environment does not describe a runnable proxy; the message names the variable."""


class Config(BaseModel):
    """Everything the proxy needs; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # The bucket to serve (the only required setting).
    bucket: str = Field(alias="S3_BUCKET")
    # Region of the bucket; unset lets botocore find it (AWS_DEFAULT_REGION, profile, IMDS).
    region: str | None = Field(default=None, alias="AWS_REGION")
    # Serve only keys below this prefix ("charts/"); requests cannot leave it.
    prefix: str = Field(default="", alias="S3PROXY_PREFIX")
    # Object served for "/" and for paths ending in "/" (e.g. "index.yaml"); empty = 404 there.
    index_document: str = Field(default="", alias="S3PROXY_INDEX_DOCUMENT")
    # htpasswd file with bcrypt lines; re-read when it changes (a mounted Secret).
    htpasswd_file: Path | None = Field(default=None, alias="S3PROXY_HTPASSWD_FILE")
    # Basic auth is off only when this says so explicitly (secure default).
    auth_disabled: bool = Field(default=False, alias="S3PROXY_AUTH_DISABLED")
    # What a client sees when S3 denies access: 403, or 404 to hide which keys exist.
    access_denied_status: int = Field(default=403, alias="S3PROXY_ACCESS_DENIED_STATUS")
    # Seconds to open a connection to S3 / to wait for S3 to send bytes.
    connect_timeout: PositiveSeconds = Field(default=5.0, alias="S3PROXY_CONNECT_TIMEOUT")
    read_timeout: PositiveSeconds = Field(default=30.0, alias="S3PROXY_READ_TIMEOUT")
    # botocore attempts per S3 call (standard retry mode: throttling and 5xx are retried).
    s3_max_attempts: int = Field(default=3, ge=1, le=10, alias="S3PROXY_S3_MAX_ATTEMPTS")
    # Address and port the content listener (granian) binds; objects only, every path is a key.
    bind_address: str = Field(default="0.0.0.0", alias="S3PROXY_BIND_ADDRESS")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535, alias="S3PROXY_PORT")
    # Port of the management listener (plain HTTP): /healthz, /readyz, /metrics. Never content.
    management_port: int = Field(default=9090, ge=1, le=65535, alias="S3PROXY_MANAGEMENT_PORT")
    # Worker processes; each runs one event loop with its own S3 connection pool.
    workers: int = Field(default=1, ge=1, le=64, alias="S3PROXY_WORKERS")
    # Connections one worker holds at once; more wait in the listen backlog (granian backpressure).
    max_connections: int = Field(default=1024, ge=16, le=65536, alias="S3PROXY_MAX_CONNECTIONS")
    # Seconds a client has to send a request's headers, and that an idle keep-alive connection
    # stays open (the HTTP/1 server's header-read timeout; at most 60).
    header_timeout: float = Field(default=10.0, gt=0, le=60, alias="S3PROXY_HEADER_TIMEOUT")
    # Seconds a client may take to accept each chunk of a response body before it is cut off.
    send_timeout: PositiveSeconds = Field(default=60.0, alias="S3PROXY_SEND_TIMEOUT")
    # Open connections to S3 per worker (idle ones are kept for reuse).
    s3_pool_size: int = Field(default=64, ge=1, le=1024, alias="S3PROXY_S3_POOL_SIZE")
    # Threads per worker that check passwords not yet verified (bcrypt); the rest wait.
    auth_check_threads: int = Field(default=1, ge=1, le=16, alias="S3PROXY_AUTH_CHECK_THREADS")
    # Unverified credentials that may wait for a check; beyond that the answer is 503.
    auth_max_pending: int = Field(default=64, ge=1, le=4096, alias="S3PROXY_AUTH_MAX_PENDING")
    # Serve HTTPS directly (both or neither).
    tls_cert_file: Path | None = Field(default=None, alias="S3PROXY_TLS_CERT_FILE")
    tls_key_file: Path | None = Field(default=None, alias="S3PROXY_TLS_KEY_FILE")
    # /readyz asks S3 (one-key ListObjectsV2 under the prefix) at most once per this many seconds.
    ready_cache_seconds: PositiveSeconds = Field(default=10.0, alias="S3PROXY_READY_CACHE_SECONDS")
    # Bytes read from S3 and written to the client per step: memory per stream is about this.
    chunk_size: int = Field(default=1 << 20, ge=4096, le=16 << 20, alias="S3PROXY_CHUNK_SIZE")

    @field_validator("bucket")
    @classmethod
    def _valid_bucket(cls, value: str) -> str:
        if not _BUCKET_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid S3 bucket name")
        return value

    @field_validator("prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        stripped = value.strip("/")
        if not stripped:
            return ""
        if any(part in {".", ".."} for part in stripped.split("/")):
            raise ValueError("must not contain '.' or '..' segments")
        return stripped + "/"

    @field_validator("index_document")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or value in {".", ".."}:
            raise ValueError("must be a plain file name such as index.yaml")
        return value

    @field_validator("access_denied_status")
    @classmethod
    def _denied_status(cls, value: int) -> int:
        if value not in (403, 404):
            raise ValueError("must be 403 or 404")
        return value

    @field_validator("auth_disabled", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("must be true or false")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Config:
        if self.htpasswd_file is None and not self.auth_disabled:
            raise ConfigError(
                "S3PROXY_HTPASSWD_FILE: required (or set S3PROXY_AUTH_DISABLED=true to serve"
                " without authentication)"
            )
        if self.htpasswd_file is not None and self.auth_disabled:
            raise ConfigError(
                "S3PROXY_AUTH_DISABLED: cannot be true while S3PROXY_HTPASSWD_FILE is set"
            )
        if self.management_port == self.port:
            raise ConfigError(
                "S3PROXY_MANAGEMENT_PORT: must differ from S3PROXY_PORT (content and management"
                " are separate listeners)"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError(
                "S3PROXY_TLS_CERT_FILE: set together with S3PROXY_TLS_KEY_FILE (both or neither)"
            )
        for variable, path in (
            ("S3PROXY_HTPASSWD_FILE", self.htpasswd_file),
            ("S3PROXY_TLS_CERT_FILE", self.tls_cert_file),
            ("S3PROXY_TLS_KEY_FILE", self.tls_key_file),
        ):
            if path is not None and not path.is_file():
                raise ConfigError(f"{variable}: {path} is not a readable file")
        return self

    @property
    def tls_enabled(self) -> bool:
        """True when the content listener terminates TLS itself."""
        return self.tls_cert_file is not None


_ALIASES = {field.alias for field in Config.model_fields.values() if field.alias}


def load_config(environ: Mapping[str, str]) -> Config:
    """Build the configuration from environment variables, or raise a one-line `ConfigError`.

    Empty optional variables count as unset, so a chart can always render every `env` entry.
    """
    values = {
        name: value
        for name, value in environ.items()
        if name in _ALIASES and (value != "" or name == "S3_BUCKET")
    }
    if not values.get("S3_BUCKET"):
        raise ConfigError("S3_BUCKET: required (the name of the bucket to serve)")
    try:
        return Config.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):  # a cross-field rule: it names its variable itself
            raise ConfigError(str(cause)) from None
        variable = ".".join(str(part) for part in first["loc"]) or "configuration"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{variable}: {message}") from None
