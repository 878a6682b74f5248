"""The one S3 client of a process, and how S3 failures map to client-facing statuses."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from s3proxy.config import Config

_STATUS_BY_CODE = {
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NotFound": 404,
    "404": 404,
    # Only after our own IfMatch/Range pinning (HeadObject then GetObject): the object changed.
    "PreconditionFailed": 412,
    "412": 412,
    "InvalidRange": 416,
    "416": 416,
}
_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})


@functools.cache
def s3_client(config: Config) -> Any:
    """The process-wide S3 client (created on first use, after gunicorn has forked).

    botocore clients are thread-safe and keep a connection pool; sizing the pool to the
    thread count means no thread waits for a connection. Credentials come from the default
    chain, so IRSA web-identity credentials are refreshed by botocore before they expire.
    AWS_ENDPOINT_URL (moto, a local stand-in) is honoured by boto3 itself.
    """
    session = boto3.session.Session()
    return session.client(
        "s3",
        region_name=config.region,
        config=BotoConfig(
            max_pool_connections=config.threads + 2,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            retries={"mode": "standard", "max_attempts": config.s3_max_attempts},
            # Path-style keeps dotted bucket names valid under TLS and works with stand-ins.
            s3={"addressing_style": "path"},
            user_agent_appid="s3proxy",
        ),
    )


@dataclass(frozen=True)
class S3Failure:
    """A failed S3 call, as the client will see it."""

    status: int
    code: str  # S3's error code, or the botocore failure class: a bounded metric label


def classify(error: Exception, *, access_denied_status: int) -> S3Failure:
    """Map a boto3/botocore exception to the status the proxy answers.

    Missing key or bucket -> 404; denied -> 403 (or 404 when configured to hide keys);
    S3 unreachable -> 502; S3 too slow -> 504; anything else from S3 -> 502.
    """
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        if code in _DENIED_CODES:
            return S3Failure(access_denied_status, code)
        return S3Failure(_STATUS_BY_CODE.get(code, 502), code)
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return S3Failure(504, type(error).__name__)
    # EndpointConnectionError, other BotoCoreError, anything unexpected: S3 is not usable.
    return S3Failure(502, type(error).__name__)
