"""Test harness: the real proxy (`python -m s3proxy`, granian) as a child process on loopback."""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from berth.local import EMULATOR_CREDENTIALS, LOOPBACK, free_loopback_port, stop_process

APP_DIR = Path(__file__).resolve().parents[3] / "apps" / "s3proxy"
# The main test proxy's users, prefix and index document, and a 100 KiB object for ranges.
USERS = {"alice": "wonder land", "bob": "b0b:colon"}
PREFIX = "site/"
INDEX = "index.yaml"
BIG = bytes(range(256)) * 400  # 102400 bytes, every offset identifiable

TEST_COST = 4  # bcrypt cost for test hashes: fast, same code path as production costs


def htpasswd_line(user: str, password: str, prefix: str = "$2y$") -> str:
    """One htpasswd line with a bcrypt hash in the Apache `$2y$` (or given) flavour."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=TEST_COST)).decode()
    return f"{user}:{prefix}{hashed[4:]}"


@dataclass
class Response:
    """What came back, as raw as http.client gives it."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class ProxyProcess:
    """One running proxy; `request()` sends a request target byte-for-byte as given."""

    env: dict[str, str]
    log_dir: Path
    tls: bool = False
    port: int = field(default_factory=free_loopback_port)
    management_port: int = field(default_factory=free_loopback_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"proxy-{self.port}.out"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"proxy-{self.port}.err"

    def start(self, timeout_s: float = 20.0) -> ProxyProcess:
        env = {
            **os.environ,
            **EMULATOR_CREDENTIALS,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "PYTHONPATH": str(APP_DIR),
            "S3PROXY_BIND_ADDRESS": LOOPBACK,
            "S3PROXY_PORT": str(self.port),
            "S3PROXY_MANAGEMENT_PORT": str(self.management_port),
            **self.env,
        }
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "s3proxy"], env=env, stdout=out, stderr=err
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy exited early: {self.stderr_path.read_text()}")
            try:
                if self.management("/healthz").status == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"proxy did not answer: {self.stderr_path.read_text()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process)

    def management(self, path: str, *, method: str = "GET") -> Response:
        """A request to the management listener (plain HTTP, no credentials)."""
        connection = http.client.HTTPConnection(LOOPBACK, self.management_port, timeout=30)
        try:
            connection.request(method, path)
            reply = connection.getresponse()
            return Response(reply.status, reply.headers, reply.read())
        finally:
            connection.close()

    def request(
        self,
        target: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """Send `target` unmodified (no dot-segment removal, no re-quoting)."""
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                LOOPBACK, self.port, timeout=30, context=context
            )
        else:
            connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        all_headers = dict(headers or {})
        if auth is not None:
            import base64

            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in all_headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            reply = connection.getresponse()
            body = reply.read()
            return Response(reply.status, reply.headers, body)
        finally:
            connection.close()
