"""S3 on the request path: botocore's credential chain and SigV4 signer over a pooled connection.

A botocore client per request costs about 2 ms of CPU (request building, event hooks, parsing):
more than everything else the proxy does. Here botocore still provides what is hard to get
right, and nothing else:

- credentials: the default chain (environment, IRSA web identity, profile, container, IMDS).
  `CredentialRefresher` calls `get_frozen_credentials()` in a thread every
  `_REFRESH_EVERY_S`, so botocore renews expiring (IRSA) credentials in its advisory window,
  15 minutes before expiry, and a request never waits for STS;
- the endpoint (`AWS_ENDPOINT_URL`, region, partition, FIPS settings) from a botocore client;
- the retry delays (`ExponentialBackoff`, standard mode) and the response checksum classes
  (`x-amz-checksum-*`, validated as botocore validates them).

The signature is `s3proxy.sigv4` (botocore's result, checked in tests, at a tenth of the cost);
the HTTP exchange is `s3proxy.s3http` (keep-alive pool, llhttp, connect and read timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.httpchecksum import _ALGORITHMS_PRIORITY_LIST, _CHECKSUM_CLS
from botocore.retries.standard import ExponentialBackoff, RetryContext
from werkzeug.http import parse_date

from s3proxy.config import Config
from s3proxy.s3http import (
    ConnectionPool,
    Response,
    S3ConnectionError,
    S3ConnectTimeout,
    S3ReadTimeout,
)
from s3proxy.sigv4 import S3Signer

_LOG = logging.getLogger("s3proxy.s3")

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
_TIMEOUT_CODES = frozenset({"ConnectTimeoutError", "ReadTimeoutError"})
# What botocore's standard retry mode retries besides connection errors and timeouts.
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_RETRY_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "RequestThrottled",
        "TooManyRequestsException",
    }
)
_ERROR_BODY_LIMIT = 64 * 1024
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_REFRESH_EVERY_S = 60.0
_HEADERS_FOR_METADATA = {
    "ETag": "ETag",
    "Cache-Control": "CacheControl",
    "Content-Type": "ContentType",
    "Content-Encoding": "ContentEncoding",
    "Content-Disposition": "ContentDisposition",
    "Content-Language": "ContentLanguage",
    "Expires": "ExpiresString",
}


@dataclass(frozen=True)
class S3Failure:
    """A failed S3 call, as the client will see it."""

    status: int
    code: str  # S3's error code, or the failure class: a bounded metric label


class S3CallError(Exception):
    """An S3 call that did not succeed after its retries; `code` names why."""

    def __init__(self, code: str, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class ChecksumMismatch(Exception):
    """The body S3 sent does not match the checksum S3 sent with it."""


def classify(error: Exception, *, access_denied_status: int) -> S3Failure:
    """Map a failed S3 call to the status the proxy answers.

    Missing key or bucket -> 404; denied -> 403 (or 404 when configured to hide keys);
    S3 unreachable -> 502; S3 too slow -> 504; anything else from S3 -> 502.
    Accepts botocore's exceptions too (the readiness probe uses a botocore client).
    """
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

    if isinstance(error, S3CallError):
        code = error.code
    elif isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    elif isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        code = type(error).__name__
    else:
        # EndpointConnectionError, other BotoCoreError, anything unexpected: S3 is not usable.
        return S3Failure(502, type(error).__name__)
    if code in _DENIED_CODES:
        return S3Failure(access_denied_status, code)
    if code in _TIMEOUT_CODES:
        return S3Failure(504, code)
    return S3Failure(_STATUS_BY_CODE.get(code, 502), code)


def metadata(headers: Mapping[str, str]) -> dict[str, Any]:
    """S3 response headers in the shape of a boto3 HeadObject/GetObject answer (what
    `semantics.representation_headers` and `Representation` read)."""
    fields: dict[str, Any] = {
        field: headers[header]
        for header, field in _HEADERS_FOR_METADATA.items()
        if header in headers
    }
    modified = headers.get("Last-Modified")
    if modified:
        fields["LastModified"] = _parse_date(modified)
    length = headers.get("Content-Length")
    fields["ContentLength"] = int(length) if length and length.isdigit() else 0
    return fields


@lru_cache(maxsize=1024)
def _parse_date(value: str) -> datetime | None:
    # Hot objects repeat the same Last-Modified; parsing an HTTP date costs more than a lookup.
    return parse_date(value)


def last_modified(fields: Mapping[str, Any]) -> datetime | None:
    """The LastModified of `metadata()`'s answer."""
    value = fields.get("LastModified")
    return value if isinstance(value, datetime) else None


class CredentialRefresher:
    """botocore's default credential chain, renewed in the background, read without waiting."""

    def __init__(self, credentials: Credentials | None) -> None:
        self._credentials = credentials
        self.current: ReadOnlyCredentials | None = (
            credentials.get_frozen_credentials() if credentials is not None else None
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Renew in the background (botocore refreshes inside its advisory window)."""
        if self._credentials is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def refresh(self) -> None:
        """One renewal: botocore decides whether STS must be asked (it may block: a thread)."""
        if self._credentials is not None:
            self.current = await asyncio.to_thread(self._credentials.get_frozen_credentials)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(_REFRESH_EVERY_S)
            try:
                await self.refresh()
            except Exception as error:  # keep the previous ones; retry next round
                _LOG.error("credential refresh failed: %s", type(error).__name__)

    async def stop(self) -> None:
        """Cancel the background renewal."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass
class S3Response:
    """Status, headers and (for GET) the open body of a successful S3 answer."""

    status: int
    headers: Mapping[str, str]
    _response: Response

    async def read_all(self) -> bytes:
        """The whole body (small objects)."""
        return await self._response.read()

    def chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of up to `size` bytes."""
        return self._response.chunks(size)

    def close(self) -> None:
        """Give the connection back (or drop it when the body was not read to the end)."""
        self._response.close()


def body_checksum(headers: Mapping[str, str]) -> tuple[Any, str] | None:
    """(checksum object, expected base64 digest) when S3 sent a full-object checksum that this
    process can compute (botocore's priority order; composite `...-N` part checksums skipped)."""
    if headers.get("x-amz-checksum-type", "FULL_OBJECT").upper() != "FULL_OBJECT":
        return None
    for algorithm in _ALGORITHMS_PRIORITY_LIST:
        expected = headers.get(f"x-amz-checksum-{algorithm}")
        if expected is None or "-" in expected:
            continue
        checksum_class = _CHECKSUM_CLS.get(algorithm)
        if checksum_class is not None:
            return checksum_class(), expected
    return None


class S3Client:
    """GetObject/HeadObject for one bucket, signed, retried, over a keep-alive pool."""

    def __init__(self, config: Config) -> None:
        self._config = config
        session = botocore.session.Session()
        # A botocore client resolves the endpoint (and serves the readiness probe).
        self.botocore_client: Any = session.create_client(
            "s3",
            region_name=config.region,
            config=BotoConfig(
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                retries={"mode": "standard", "max_attempts": config.s3_max_attempts},
                s3={"addressing_style": "path"},
                user_agent_appid="s3proxy",
            ),
        )
        self.region: str = self.botocore_client.meta.region_name or "us-east-1"
        endpoint = urlsplit(str(self.botocore_client.meta.endpoint_url))
        self._endpoint = endpoint
        self._host = endpoint.netloc
        # Path-style keeps dotted bucket names valid under TLS and works with stand-ins.
        self._bucket_path = f"{endpoint.path.rstrip('/')}/{quote(config.bucket, safe='')}/"
        self._signer = S3Signer(self._host, self.region)
        self.credentials = CredentialRefresher(session.get_credentials())
        self._backoff = ExponentialBackoff()
        self._http: ConnectionPool | None = None

    async def start(self) -> None:
        """Create the connection pool and start renewing credentials (in the worker's loop)."""
        endpoint = self._endpoint
        tls = None
        if endpoint.scheme == "https":
            # The CA bundle botocore would use when one is configured, else the system's.
            tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        self._http = ConnectionPool(
            host=endpoint.hostname or "",
            port=endpoint.port or (443 if tls else 80),
            tls=tls,
            size=self._config.s3_pool_size,
            connect_timeout=self._config.connect_timeout,
            read_timeout=self._config.read_timeout,
            buffer_size=self._config.chunk_size,
        )
        self.credentials.start()

    async def close(self) -> None:
        """Stop renewing credentials and close the pool."""
        await self.credentials.stop()
        if self._http is not None:
            self._http.close()
            self._http = None

    def _signed(self, method: str, path: str, headers: dict[str, str]) -> dict[str, str]:
        credentials = self.credentials.current
        if credentials is None:
            raise S3CallError("NoCredentialsError")
        return self._signer.sign(
            method, path, headers, credentials=credentials, now=datetime.now(UTC)
        )

    async def call(self, method: str, key: str, headers: dict[str, str]) -> S3Response:
        """HeadObject ("HEAD") or GetObject ("GET") of `key` with extra request headers.

        Retries connection errors, timeouts, 5xx and throttling with exponential backoff and
        jitter (botocore's standard mode); a 2xx answer is returned with its body still open.
        """
        assert self._http is not None, "start() first"
        path = self._bucket_path + quote(key, safe="/~")
        if method == "GET":
            headers = {**headers, "x-amz-checksum-mode": "ENABLED"}
        attempts = self._config.s3_max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await self._once(method, path, headers)
            except S3CallError as error:
                if attempt == attempts or not _retryable(error):
                    raise
                delay = self._backoff.delay_amount(RetryContext(attempt_number=attempt))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _once(self, method: str, path: str, headers: dict[str, str]) -> S3Response:
        assert self._http is not None
        signed = self._signed(method, path, headers)
        try:
            response = await self._http.request(method, path, signed)
        except S3ConnectTimeout as error:
            raise S3CallError("ConnectTimeoutError") from error
        except S3ReadTimeout as error:
            raise S3CallError("ReadTimeoutError") from error
        except OSError as error:  # refused, reset, closed early, TLS failure, DNS
            raise S3CallError("EndpointConnectionError") from error
        if response.status < 300:
            return S3Response(response.status, response.headers, response)
        try:
            body = b"" if method == "HEAD" else await response.read(_ERROR_BODY_LIMIT)
        except (TimeoutError, S3ConnectionError):
            body = b""
        finally:
            response.close()
        match = _ERROR_CODE.search(body)
        code = match.group(1).decode("utf-8", "replace") if match else str(response.status)
        raise S3CallError(code, response.status)


def _retryable(error: S3CallError) -> bool:
    if error.code == "EndpointConnectionError" or error.code in _TIMEOUT_CODES:
        return True
    return error.code in _RETRY_CODES or (error.status in _RETRY_STATUSES)
