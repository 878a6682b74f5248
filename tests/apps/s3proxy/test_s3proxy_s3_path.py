"""What the proxy keeps from botocore on its S3 path: credentials (IRSA web identity, refreshed
before expiry), retries with backoff, response checksum validation; and what the content port
no longer reserves (every key is an object, management lives on its own port).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from s3proxy_harness import PREFIX, USERS, ProxyProcess

from berth.local import LOOPBACK

SMALL = bytes(range(256)) * 4  # 1 KiB: sent whole
LARGE = bytes(range(256)) * 400  # 100 KiB: streamed in 4 KiB chunks (S3PROXY_CHUNK_SIZE below)


def _crc32(body: bytes) -> str:
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


_SLOW_DOWN = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>x</Message></Error>"


class _FakeS3(BaseHTTPRequestHandler):
    """Path-style GET/HEAD with chosen checksums and failures; records what it was sent."""

    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []
    failures_left: ClassVar[dict[str, int]] = {}
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        key = self.path.split("/", 2)[2]
        type(self).seen.append((self.command, key, dict(self.headers.items())))
        left = type(self).failures_left.get(key, 0)
        if left:
            type(self).failures_left[key] = left - 1
            self._send(503, _SLOW_DOWN, {})
            return
        body = LARGE if "large" in key else SMALL
        if key.startswith("chunked"):  # framing by Transfer-Encoding, not Content-Length
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 10000):
                piece = body[start : start + 10000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        checksum = {
            "good": _crc32(body),
            "bad": _crc32(body + b"!"),
            "composite": _crc32(body + b"!") + "-3",
        }.get(key.split("-")[0])
        headers = {"ETag": '"fake"', "Last-Modified": "Wed, 02 Dec 2026 10:00:00 GMT"}
        if checksum and self.headers.get("x-amz-checksum-mode") == "ENABLED":
            headers["x-amz-checksum-crc32"] = checksum
            if key.startswith("composite"):
                headers["x-amz-checksum-type"] = "COMPOSITE"
        self._send(200, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_s3() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _FakeS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fake_proxy(start_proxy: Callable[..., ProxyProcess], fake_s3: str) -> ProxyProcess:
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": fake_s3,
            "S3_BUCKET": "fake-bucket",
            "S3PROXY_AUTH_DISABLED": "true",
            "S3PROXY_CHUNK_SIZE": "4096",
            "S3PROXY_S3_MAX_ATTEMPTS": "3",
        }
    )


# --- checksums ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("good-small", SMALL),
        ("good-large", LARGE),
        ("composite-large", LARGE),
        ("none-small", SMALL),
        ("chunked-large", LARGE),  # no Content-Length: llhttp frames the body
        ("chunked-small", SMALL),
    ],
)
def test_bodies_pass_when_the_checksum_matches_or_cannot_be_checked(
    fake_proxy: ProxyProcess, key: str, body: bytes
) -> None:
    reply = fake_proxy.request(f"/{key}")
    assert (reply.status, reply.body) == (200, body)
    sent = [headers for method, seen_key, headers in _FakeS3.seen if seen_key == key]
    assert sent and sent[-1].get("x-amz-checksum-mode") == "ENABLED"


def test_small_body_with_a_wrong_checksum_is_502(fake_proxy: ProxyProcess) -> None:
    reply = fake_proxy.request("/bad-small")
    assert reply.status == 502
    assert SMALL[:64] not in reply.body
    metrics = fake_proxy.management("/metrics").body.decode()
    assert 's3proxy_s3_errors_total{code="ChecksumMismatch"}' in metrics


def test_large_body_with_a_wrong_checksum_never_arrives_whole(fake_proxy: ProxyProcess) -> None:
    # The headers are gone by then: the last chunk is held back and the connection is cut.
    with pytest.raises(http.client.IncompleteRead) as cut:
        fake_proxy.request("/bad-large")
    assert len(cut.value.partial) < len(LARGE)


# --- retries --------------------------------------------------------------------------------


def test_throttling_is_retried_with_backoff(fake_proxy: ProxyProcess) -> None:
    _FakeS3.failures_left["flaky-small"] = 2
    reply = fake_proxy.request("/flaky-small")
    assert (reply.status, reply.body) == (200, SMALL)
    attempts = [key for method, key, _ in _FakeS3.seen if key == "flaky-small"]
    assert len(attempts) == 3  # two SlowDown answers, then the object


def test_retries_stop_at_max_attempts(fake_proxy: ProxyProcess) -> None:
    _FakeS3.failures_left["hopeless-small"] = 10
    reply = fake_proxy.request("/hopeless-small")
    assert reply.status == 502
    attempts = [key for method, key, _ in _FakeS3.seen if key == "hopeless-small"]
    assert len(attempts) == 3
    metrics = fake_proxy.management("/metrics").body.decode()
    assert 's3proxy_s3_errors_total{code="SlowDown"}' in metrics


# --- every key is content; management is elsewhere -----------------------------------------


@pytest.fixture(scope="module")
def reserved_named_objects(put_object: Callable[[str, bytes], None]) -> list[str]:
    names = ["metrics", "healthz", "health", "readyz"]
    for name in names:
        put_object(PREFIX + name, f"the object called {name}".encode())
    return names


def test_objects_named_like_probes_are_served(
    proxy: ProxyProcess, reserved_named_objects: list[str]
) -> None:
    for name in reserved_named_objects:
        assert proxy.request(f"/{name}").status == 401  # content: credentials needed
        reply = proxy.request(f"/{name}", auth=("alice", USERS["alice"]))
        assert (reply.status, reply.body) == (200, f"the object called {name}".encode())


def test_management_port_serves_no_content(proxy: ProxyProcess) -> None:
    assert proxy.management("/big.bin").status == 404
    assert proxy.management("/").status == 404
    assert proxy.management("/metrics", method="POST").status == 405


# --- credentials ----------------------------------------------------------------------------


def test_irsa_web_identity_credentials_are_used(
    start_proxy: Callable[..., ProxyProcess], moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.signature")  # moto accepts any token
    without_keys = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}
    common = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "S3_BUCKET": bucket,
        "S3PROXY_PREFIX": PREFIX,
        "S3PROXY_AUTH_DISABLED": "true",
        "S3PROXY_S3_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **without_keys,
    }
    anonymous = start_proxy(common)
    assert anonymous.request("/big.bin").status == 502  # no credentials at all
    irsa = start_proxy(
        {
            **common,
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/s3proxy",
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
            "AWS_ROLE_SESSION_NAME": "s3proxy-test",
        }
    )
    assert irsa.request("/big.bin").status == 200


def test_expiring_credentials_are_refreshed_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.credentials import RefreshableCredentials
    from s3proxy import s3

    issued: list[str] = []

    def refresh() -> dict[str, Any]:
        # Always inside botocore's 15-minute advisory window: every look asks for new ones.
        issued.append(f"AKID{len(issued)}")
        expiry = datetime.now(UTC) + timedelta(minutes=12)
        return {
            "access_key": issued[-1],
            "secret_key": "secret",
            "token": "token",
            "expiry_time": expiry.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        refresh(), refresh_using=refresh, method="assume-role-with-web-identity"
    )
    monkeypatch.setattr(s3, "_REFRESH_EVERY_S", 0.05)

    async def scenario() -> tuple[str, str]:
        refresher = s3.CredentialRefresher(credentials)
        assert refresher.current is not None
        first = refresher.current.access_key
        refresher.start()
        for _ in range(400):
            await asyncio.sleep(0.01)
            if refresher.current.access_key != first:
                break
        await refresher.stop()
        return first, refresher.current.access_key

    first, later = asyncio.run(scenario())
    assert later != first  # renewed by the background task, not by a request
