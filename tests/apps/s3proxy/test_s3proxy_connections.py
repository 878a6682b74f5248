"""Connections that misbehave, with real sockets against the real proxy process.

Idle clients, clients that stop halfway through their headers, clients that trickle a request
body, bytes that are not HTTP, HTTP/1.1 without Host. The proxy runs one worker with a
one-second header timeout; every wait below is bounded, none is a timing assertion.
"""

from __future__ import annotations

import base64
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from s3proxy_harness import BIG, INDEX, PREFIX, USERS, ProxyProcess

from berth.local import LOOPBACK

# Far above the one-second header timeout: a connection still open after this is a stall.
_CLOSE_WITHIN_S = 15.0
_STALLED = 64


@pytest.fixture(scope="module")
def strict_proxy(
    start_proxy: Callable[..., ProxyProcess], moto_endpoint: str, bucket: str, htpasswd_file: Path
) -> ProxyProcess:
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "S3_BUCKET": bucket,
            "S3PROXY_PREFIX": PREFIX,
            "S3PROXY_INDEX_DOCUMENT": INDEX,
            "S3PROXY_HTPASSWD_FILE": str(htpasswd_file),
            "S3PROXY_WORKERS": "1",
            "S3PROXY_HEADER_TIMEOUT": "1",
        }
    )


def _auth() -> str:
    token = base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
    return f"Basic {token}"


def _connect(proxy: ProxyProcess) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, proxy.port), timeout=_CLOSE_WITHIN_S)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises TimeoutError if it never does."""
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def _exchange(proxy: ProxyProcess, raw: bytes) -> bytes:
    with _connect(proxy) as sock:
        sock.sendall(raw)
        return _read_until_closed(sock)


@pytest.fixture
def stalled(strict_proxy: ProxyProcess) -> Iterator[list[socket.socket]]:
    """64 connections that each hold the server in a different way."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(_connect(strict_proxy)) for _ in range(_STALLED)]
        for number, sock in enumerate(sockets):
            if number % 4 == 1:  # half a request line
                sock.sendall(b"GET /big.b")
            elif number % 4 == 2:  # headers that never end
                sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: proxy\r\nX-Slow: 1\r\n")
            elif number % 4 == 3:  # complete headers, then a body that trickles
                sock.sendall(
                    b"GET /big.bin HTTP/1.1\r\nHost: proxy\r\nContent-Length: 100000\r\n"
                    + f"Authorization: {_auth()}\r\n\r\n".encode()
                    + b"x"
                )
            # number % 4 == 0: connected, nothing sent
        yield sockets


def test_stalled_connections_do_not_stop_normal_requests(
    strict_proxy: ProxyProcess, stalled: list[socket.socket]
) -> None:
    assert len(stalled) == _STALLED
    for _ in range(5):
        reply = strict_proxy.request("/big.bin", auth=("alice", USERS["alice"]))
        assert (reply.status, reply.body) == (200, BIG)


def test_stalled_connections_are_closed(stalled: list[socket.socket]) -> None:
    # Idle and half-sent requests are dropped at the header timeout (nothing is answered);
    # a request whose body trickles is answered without reading it, then closed.
    for number, sock in enumerate(stalled):
        received = _read_until_closed(sock)
        if number % 4 == 3:
            assert received.startswith(b"HTTP/1.1 200 "), received[:80]
            head = received.split(b"\r\n\r\n", 1)[0].lower()
            assert b"connection: close" in head
        else:
            assert received == b"", (number, received[:80])


def test_idle_keep_alive_connection_is_closed(strict_proxy: ProxyProcess) -> None:
    with _connect(strict_proxy) as sock:
        sock.sendall(
            f"HEAD /big.bin HTTP/1.1\r\nHost: proxy\r\nAuthorization: {_auth()}\r\n\r\n".encode()
        )
        received = _read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" not in received.lower()  # kept alive, then closed when idle


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /big.bin HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n",
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: {auth}\r\n\r\n",
        b"GET /big.bin HTTP/1.1\r\nHost: a b\r\nAuthorization: {auth}\r\n\r\n",
    ],
    ids=["no-host", "two-hosts", "invalid-host"],
)
def test_bad_host_is_400_and_closed(strict_proxy: ProxyProcess, raw: bytes) -> None:
    received = _exchange(strict_proxy, raw.replace(b"{auth}", _auth().encode()))
    assert received.startswith(b"HTTP/1.1 400 "), received[:80]
    assert BIG[:64] not in received


def test_http10_without_host_is_served(strict_proxy: ProxyProcess) -> None:
    received = _exchange(
        strict_proxy, f"GET /big.bin HTTP/1.0\r\nAuthorization: {_auth()}\r\n\r\n".encode()
    )
    assert received.split(b"\r\n", 1)[0] in (b"HTTP/1.0 200 OK", b"HTTP/1.1 200 OK")
    assert received.endswith(BIG)


@pytest.mark.parametrize(
    "raw",
    [
        random.Random(15).randbytes(512),  # noqa: S311 - fixed noise, not a secret
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(500),  # a TLS ClientHello
        b"HELLO THERE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
    ids=["random", "tls-client-hello", "not-a-request-line", "unknown-version"],
)
def test_bytes_that_are_not_http_get_400_and_a_close(
    strict_proxy: ProxyProcess, raw: bytes
) -> None:
    received = _exchange(strict_proxy, raw)
    status_line = received.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), received[:80]
    assert status_line.startswith((b"HTTP/1.1 400", b"HTTP/1.1 505")), status_line


@pytest.fixture(scope="module")
def impatient_proxy(
    start_proxy: Callable[..., ProxyProcess],
    moto_endpoint: str,
    bucket: str,
    put_object: Callable[[str, bytes], None],
) -> ProxyProcess:
    put_object(PREFIX + "large.bin", bytes(range(256)) * (64 * 1024))  # 16 MiB
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "S3_BUCKET": bucket,
            "S3PROXY_PREFIX": PREFIX,
            "S3PROXY_AUTH_DISABLED": "true",
            "S3PROXY_SEND_TIMEOUT": "1",
            "S3PROXY_CHUNK_SIZE": "65536",
        }
    )


def test_a_client_that_stops_reading_is_cut_off(impatient_proxy: ProxyProcess) -> None:
    size = 16 * 1024 * 1024
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # little room in the kernel
        sock.settimeout(_CLOSE_WITHIN_S)
        sock.connect((LOOPBACK, impatient_proxy.port))
        sock.sendall(b"GET /large.bin HTTP/1.1\r\nHost: proxy\r\n\r\n")
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
        # Read nothing for a while (several send timeouts), then take what had been sent.
        time.sleep(4)
        received = _read_until_closed(sock)
    assert len(received) < size  # cut off, never the whole body
