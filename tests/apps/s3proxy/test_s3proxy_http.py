"""Every HTTP behaviour through the real gunicorn server against the session's moto server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from s3proxy_harness import BIG, INDEX, PREFIX, USERS, ProxyProcess, htpasswd_line

AWKWARD_KEYS = [
    "plus+sign.txt",
    "with space.txt",
    "copy (1).txt",
    "k=v.txt",
    "user@host.txt",
    "café/naïve ü.txt",
    "日本語.txt",
    "literal%2Fpercent.txt",
    "dir/nested/file.txt",
]


@pytest.fixture(scope="module")
def awkward_objects(put_object: Callable[[str, bytes], None]) -> None:
    for key in AWKWARD_KEYS:
        put_object(PREFIX + key, key.encode())


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("awkward_objects")
@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_keys_fully_encoded(proxy: ProxyProcess, alice: tuple[str, str], key: str) -> None:
    reply = proxy.request("/" + quote(key, safe=""), auth=alice)  # "/" sent as %2F
    assert (reply.status, reply.body) == (200, key.encode())


@pytest.mark.usefixtures("awkward_objects")
@pytest.mark.parametrize(
    ("target", "key"),
    [
        ("/plus+sign.txt", "plus+sign.txt"),  # a raw "+" is a plus, not a space
        ("/copy%20(1).txt", "copy (1).txt"),
        ("/k=v.txt", "k=v.txt"),
        ("/user@host.txt", "user@host.txt"),
        ("/dir/nested/file.txt", "dir/nested/file.txt"),
        ("/dir%2Fnested/file.txt", "dir/nested/file.txt"),
        ("/literal%252Fpercent.txt", "literal%2Fpercent.txt"),  # decoded exactly once
    ],
)
def test_awkward_keys_as_browsers_send_them(
    proxy: ProxyProcess, alice: tuple[str, str], target: str, key: str
) -> None:
    reply = proxy.request(target, auth=alice)
    assert (reply.status, reply.body) == (200, key.encode())


def test_missing_key_is_404(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    assert proxy.request("/no/such/key", auth=alice).status == 404


@pytest.mark.parametrize(
    "target",
    ["/../outside.txt", "/%2E%2E/outside.txt", "/..%2Foutside.txt", "/dir/../../outside.txt"],
)
def test_prefix_cannot_be_escaped(proxy: ProxyProcess, alice: tuple[str, str], target: str) -> None:
    reply = proxy.request(target, auth=alice)
    assert reply.status == 400
    assert b"private" not in reply.body


def test_outside_prefix_is_not_found(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    # The key exists at the bucket root but the proxy only sees `site/`.
    assert proxy.request("/outside.txt", auth=alice).status == 404


@pytest.mark.parametrize(
    ("target", "body"), [("/", b"root index"), ("/dir/", b"dir index"), ("/dir%2F", b"dir index")]
)
def test_index_document(
    proxy: ProxyProcess, alice: tuple[str, str], target: str, body: bytes
) -> None:
    reply = proxy.request(target, auth=alice)
    assert (reply.status, reply.body) == (200, body)


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "password"), list(USERS.items()))
def test_every_user_in_the_file_can_read(proxy: ProxyProcess, user: str, password: str) -> None:
    # alice has a $2y$ (Apache) hash, bob a $2b$ one and a colon in his password.
    assert proxy.request("/big.bin", auth=(user, password)).status == 200


@pytest.mark.parametrize(
    "auth",
    [None, ("alice", "wrong"), ("mallory", "wonder land"), ("", ""), ("alice", "")],
    ids=["missing", "bad-password", "unknown-user", "empty", "empty-password"],
)
def test_rejected_credentials(proxy: ProxyProcess, auth: tuple[str, str] | None) -> None:
    reply = proxy.request("/big.bin", auth=auth)
    assert reply.status == 401
    assert reply.header("WWW-Authenticate") == 'Basic realm="s3proxy", charset="UTF-8"'
    assert BIG[:100] not in reply.body


def test_non_basic_scheme_is_rejected(proxy: ProxyProcess) -> None:
    reply = proxy.request("/big.bin", headers={"Authorization": "Bearer abc"})
    assert reply.status == 401


@pytest.mark.parametrize("path", ["/healthz", "/health", "/readyz", "/metrics"])
def test_operational_endpoints_need_no_auth(proxy: ProxyProcess, path: str) -> None:
    # On the management listener only (see test_s3proxy_management.py for the content side).
    assert proxy.management(path).status == 200


def test_htpasswd_change_is_picked_up(proxy: ProxyProcess, htpasswd_file: Path) -> None:
    assert proxy.request("/big.bin", auth=("carol", "new")).status == 401
    with htpasswd_file.open("a") as file:
        file.write(htpasswd_line("carol", "new") + "\n")
    deadline = time.monotonic() + 10
    status = 401
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = proxy.request("/big.bin", auth=("carol", "new")).status
    assert status == 200


# --- methods and HEAD -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("target", ["/big.bin", "/", "/healthz"])
def test_other_methods_are_405_with_allow(proxy: ProxyProcess, method: str, target: str) -> None:
    reply = proxy.request(target, method=method, auth=("alice", USERS["alice"]))
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"


def test_head_has_headers_and_no_body(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    get = proxy.request("/big.bin", auth=alice)
    head = proxy.request("/big.bin", method="HEAD", auth=alice)
    assert head.status == 200
    assert head.body == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.header(name) == get.header(name), name
    assert head.header("Content-Length") == str(len(BIG))
    assert head.header("Content-Type") == "application/x-test"
    assert head.header("Cache-Control") == "max-age=60"
    assert head.header("Accept-Ranges") == "bytes"


def test_head_of_missing_key_is_404(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    assert proxy.request("/nope", method="HEAD", auth=alice).status == 404


def test_get_has_the_object_and_its_metadata(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    reply = proxy.request("/big.bin", auth=alice)
    assert reply.status == 200
    assert reply.body == BIG
    assert reply.header(
        "ETag",
    ) and reply.header("ETag").startswith('"')
    assert reply.header(
        "Last-Modified",
    ).endswith("GMT")
    assert reply.header("Transfer-Encoding") is None  # Content-Length, not chunked


# --- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-", 0, len(BIG)),
        ("bytes=0-0", 0, 1),
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=-256", len(BIG) - 256, len(BIG)),
        ("bytes=100000-999999", 100000, len(BIG)),
    ],
)
def test_single_range_is_206(
    proxy: ProxyProcess, alice: tuple[str, str], header: str, start: int, stop: int
) -> None:
    reply = proxy.request("/big.bin", auth=alice, headers={"Range": header})
    assert reply.status == 206
    assert reply.body == BIG[start:stop]
    assert reply.header("Content-Range") == f"bytes {start}-{stop - 1}/{len(BIG)}"
    assert reply.header("Content-Length") == str(stop - start)


@pytest.mark.parametrize("header", ["bytes=102400-", "bytes=200000-300000"])
def test_unsatisfiable_range_is_416(
    proxy: ProxyProcess, alice: tuple[str, str], header: str
) -> None:
    reply = proxy.request("/big.bin", auth=alice, headers={"Range": header})
    assert reply.status == 416
    assert reply.header("Content-Range") == f"bytes */{len(BIG)}"


def test_range_on_empty_object_is_416(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    reply = proxy.request("/empty.txt", auth=alice, headers={"Range": "bytes=0-"})
    assert (reply.status, reply.header("Content-Range")) == (416, "bytes */0")


def test_multi_range_is_answered_200_whole(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    reply = proxy.request("/big.bin", auth=alice, headers={"Range": "bytes=0-1,10-11"})
    assert (reply.status, reply.body) == (200, BIG)


def test_head_ignores_range(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    reply = proxy.request("/big.bin", method="HEAD", auth=alice, headers={"Range": "bytes=0-9"})
    assert reply.status == 200
    assert reply.header("Content-Length") == str(len(BIG))


def _validators(proxy: ProxyProcess, alice: tuple[str, str]) -> tuple[str, str]:
    head = proxy.request("/big.bin", method="HEAD", auth=alice)
    etag, modified = head.header("ETag"), head.header("Last-Modified")
    assert etag and modified
    return etag, modified


@pytest.mark.parametrize(("validator", "status"), [("etag", 206), ("date", 206), ("other", 200)])
def test_if_range(proxy: ProxyProcess, alice: tuple[str, str], validator: str, status: int) -> None:
    etag, modified = _validators(proxy, alice)
    if_range = {"etag": etag, "date": modified, "other": '"stale"'}[validator]
    reply = proxy.request(
        "/big.bin", auth=alice, headers={"Range": "bytes=0-9", "If-Range": if_range}
    )
    assert reply.status == status
    assert reply.body == (BIG[:10] if status == 206 else BIG)


# --- conditional requests ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("If-None-Match", "{etag}", 304),
        ("If-None-Match", '"other"', 200),
        ("If-None-Match", "*", 304),
        ("If-Modified-Since", "{modified}", 304),
        ("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT", 200),
        ("If-Match", "{etag}", 200),
        ("If-Match", '"other"', 412),
        ("If-Unmodified-Since", "{modified}", 200),
        ("If-Unmodified-Since", "Thu, 01 Jan 2015 00:00:00 GMT", 412),
    ],
)
def test_conditional_headers(
    proxy: ProxyProcess,
    alice: tuple[str, str],
    *,
    method: str,
    header: str,
    value: str,
    status: int,
) -> None:
    etag, modified = _validators(proxy, alice)
    reply = proxy.request(
        "/big.bin",
        method=method,
        auth=alice,
        headers={header: value.format(etag=etag, modified=modified)},
    )
    assert reply.status == status
    if status == 304:
        assert reply.body == b""
        assert reply.header("ETag") == etag
    if status == 200 and method == "GET":
        assert reply.body == BIG


def test_if_match_failure_wins_over_range(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    reply = proxy.request(
        "/big.bin", auth=alice, headers={"If-Match": '"other"', "Range": "bytes=0-9"}
    )
    assert reply.status == 412


def test_not_modified_wins_over_range(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    etag, _ = _validators(proxy, alice)
    reply = proxy.request(
        "/big.bin", auth=alice, headers={"If-None-Match": etag, "Range": "bytes=0-9"}
    )
    assert reply.status == 304


# --- observability --------------------------------------------------------------------------------


def test_metrics_are_exposed(proxy: ProxyProcess, alice: tuple[str, str]) -> None:
    proxy.request("/big.bin", auth=alice)
    proxy.request("/missing-for-metrics", auth=alice)
    text = proxy.management("/metrics").body.decode()
    assert 's3proxy_requests_total{method="GET",status="200"}' in text
    assert 's3proxy_requests_total{method="GET",status="404"}' in text
    assert "s3proxy_response_body_bytes_total" in text
    assert "s3proxy_request_duration_seconds_bucket" in text
    assert 's3proxy_s3_errors_total{code="NoSuchKey"}' in text


def test_access_log_is_one_json_line_per_request(
    proxy: ProxyProcess, alice: tuple[str, str]
) -> None:
    proxy.request("/big.bin?marker=access-log-test", auth=alice)
    deadline = time.monotonic() + 5
    records: list[dict[str, object]] = []
    while not records and time.monotonic() < deadline:
        lines = proxy.stdout_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if "access-log-test" in line]
        time.sleep(0.05)
    assert len(records) == 1
    record = records[0]
    assert record["status"] == 200
    assert record["bytes"] == len(BIG)
    assert record["user"] == "alice"
    assert record["method"] == "GET"
    assert isinstance(record["duration_ms"], float)


def test_readyz_checks_the_bucket(proxy: ProxyProcess) -> None:
    reply = proxy.management("/readyz")
    assert (reply.status, reply.body) == (200, b"ok\n")


def test_index_constant_is_what_the_proxy_serves() -> None:
    # Guard for the fixtures above: the main proxy's index document is INDEX.
    assert INDEX == "index.yaml"


@pytest.mark.parametrize("alive", [True, False])
def test_container_healthcheck_command(proxy: ProxyProcess, alive: bool) -> None:
    import os
    import subprocess
    import sys

    from s3proxy_harness import APP_DIR

    from berth.local import free_loopback_port

    port = proxy.management_port if alive else free_loopback_port()
    result = subprocess.run(
        [sys.executable, "-m", "s3proxy.healthcheck"],
        env={**os.environ, "PYTHONPATH": str(APP_DIR), "S3PROXY_MANAGEMENT_PORT": str(port)},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == (0 if alive else 1)
