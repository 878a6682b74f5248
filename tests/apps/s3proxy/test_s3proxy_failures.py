"""S3 failures as clients see them, through the real proxy against real (misbehaving) endpoints.

moto does not enforce IAM, so "access denied" comes from a tiny loopback HTTP server that
answers every S3 call the way S3 does when a policy denies it (403 + AccessDenied XML).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from s3proxy_harness import ProxyProcess

from berth.local import LOOPBACK, free_loopback_port

_DENIED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)


class _DenyingS3(BaseHTTPRequestHandler):
    def _deny(self) -> None:
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(_DENIED_XML)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(_DENIED_XML)

    do_GET = do_HEAD = _deny

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def denying_s3() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _DenyingS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def silent_s3() -> Iterator[str]:
    """Accepts connections (the kernel queues them) and never answers: a read timeout."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(64)
    yield f"http://{LOOPBACK}:{listener.getsockname()[1]}"
    listener.close()


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "S3_BUCKET": "some-bucket",
        "S3PROXY_AUTH_DISABLED": "true",
        "S3PROXY_S3_MAX_ATTEMPTS": "1",
        "S3PROXY_CONNECT_TIMEOUT": "1",
        "S3PROXY_READ_TIMEOUT": "1",
        **extra,
    }


@pytest.fixture(scope="module", params=["", "403", "404"], ids=["default", "403", "404"])
def denied_proxy(
    request: pytest.FixtureRequest, start_proxy: Callable[..., ProxyProcess], denying_s3: str
) -> tuple[ProxyProcess, int]:
    """A proxy in front of an S3 that denies everything, and the status it should answer."""
    configured: str = request.param
    proxy = start_proxy(_env(denying_s3, S3PROXY_ACCESS_DENIED_STATUS=configured))
    return proxy, int(configured or 403)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_access_denied_mapping(denied_proxy: tuple[ProxyProcess, int], method: str) -> None:
    proxy, expected = denied_proxy
    reply = proxy.request("/secret.txt", method=method)
    assert reply.status == expected
    assert b"AccessDenied" not in reply.body


@pytest.fixture(scope="module")
def unreachable_proxy(start_proxy: Callable[..., ProxyProcess]) -> ProxyProcess:
    closed_port = free_loopback_port()  # nothing listens there
    return start_proxy(_env(f"http://{LOOPBACK}:{closed_port}"))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("headers", [{}, {"Range": "bytes=0-1"}])
def test_s3_unreachable_is_502(
    unreachable_proxy: ProxyProcess, method: str, headers: dict[str, str]
) -> None:
    reply = unreachable_proxy.request("/any.txt", method=method, headers=headers)
    assert reply.status == 502
    assert b"Traceback" not in reply.body


def test_readyz_fails_when_s3_is_unreachable(unreachable_proxy: ProxyProcess) -> None:
    reply = unreachable_proxy.management("/readyz")
    assert reply.status == 503
    assert reply.body.startswith(b"ListObjectsV2 failed")


def test_healthz_does_not_need_s3(unreachable_proxy: ProxyProcess) -> None:
    assert unreachable_proxy.management("/healthz").status == 200


def test_s3_errors_are_counted(unreachable_proxy: ProxyProcess) -> None:
    unreachable_proxy.request("/counted.txt")
    text = unreachable_proxy.management("/metrics").body.decode()
    assert 's3proxy_s3_errors_total{code="EndpointConnectionError"}' in text


def test_s3_timeout_is_504(start_proxy: Callable[..., ProxyProcess], silent_s3: str) -> None:
    proxy = start_proxy(_env(silent_s3))
    reply = proxy.request("/slow.txt")
    assert reply.status == 504
    assert b"Traceback" not in reply.body


def test_missing_bucket_is_404(
    start_proxy: Callable[..., ProxyProcess], moto_endpoint: str
) -> None:
    proxy = start_proxy(_env(moto_endpoint, S3_BUCKET="s3proxy-no-such-bucket-here"))
    assert proxy.request("/key.txt").status == 404
    assert proxy.request("/key.txt", method="HEAD").status == 404


def test_auth_disabled_serves_without_credentials(
    start_proxy: Callable[..., ProxyProcess], moto_endpoint: str, bucket: str
) -> None:
    proxy = start_proxy(_env(moto_endpoint, S3_BUCKET=bucket, S3PROXY_PREFIX="site"))
    assert proxy.request("/big.bin").status == 200


def test_several_workers_share_metrics(
    start_proxy: Callable[..., ProxyProcess], moto_endpoint: str, bucket: str
) -> None:
    proxy = start_proxy(
        _env(moto_endpoint, S3_BUCKET=bucket, S3PROXY_PREFIX="site", S3PROXY_WORKERS="2")
    )
    for _ in range(6):
        assert proxy.request("/big.bin").status == 200

    def counted() -> float:
        text = proxy.management("/metrics").body.decode()
        line = next(
            line
            for line in text.splitlines()
            if line.startswith('s3proxy_requests_total{method="GET",status="200"}')
        )
        return float(line.split()[-1])

    # Every request is counted whichever worker served it (multiprocess collector). A request
    # is counted once its last byte is sent, which can be a moment after the client has read
    # it: the count may lag, never stay short.
    deadline = time.monotonic() + 10
    while counted() < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted() == 6


def test_readiness_lists_under_the_prefix_so_a_prefix_scoped_role_can_pass() -> None:
    # HeadBucket needs s3:ListBucket without an s3:prefix condition, which a role scoped to the
    # served prefix does not have: the probe must ask only for keys under that prefix.
    import boto3
    from botocore.stub import Stubber
    from s3proxy.management import ReadinessProbe

    client = boto3.client(
        "s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    probe = ReadinessProbe(client, "content", ttl_s=60.0, prefix="site/")
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {"KeyCount": 0},
            {"Bucket": "content", "Prefix": "site/", "MaxKeys": 1},
        )
        assert probe.check(now=0.0) == (True, "ok")
        assert probe.check(now=30.0) == (True, "ok")  # cached: no second S3 call
        stub.assert_no_pending_responses()
