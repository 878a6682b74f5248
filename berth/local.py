"""The embedded AWS emulator on a free loopback port, for the `local` environment.

The emulator is moto server with Berth's additions (`python -m berth.emulator`: AppConfig
environments, deployment strategies and deployments; bucket policies whose conditional
statements neither allow nor deny). One `MotoServer` is one child process; it is stopped (and
its port freed) on exit, even when the caller fails, so no emulator outlives the command or the
test session that started it.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from berth.terraform import run_terraform, terraform_environment
from berth_core.config import PROJECT_ROOT
from berth_core.errors import BerthError

LOOPBACK = "127.0.0.1"

# moto accepts any credentials; fixed fake ones keep boto3 and terraform from looking for real ones.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_loopback_port() -> int:
    """A TCP port that was free on loopback a moment ago (the OS picks it)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    """Terminate a child process, killing it if it does not exit within `timeout_s`."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def write_loopback_certificate(directory: Path, common_name: str = LOOPBACK) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, valid for a day: (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class EmulatorError(BerthError):
    """The emulator did not start or did not answer."""


@dataclass
class MotoServer:
    """The emulator (`python -m berth.emulator`, moto server with Berth's additions) as a child
    process on loopback.

    Use as a context manager: `with MotoServer() as moto: moto.endpoint_url`.
    """

    port: int = 0
    startup_timeout_s: float = 30.0
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> MotoServer:
        if self.port == 0:
            self.port = free_loopback_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, **EMULATOR_CREDENTIALS}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "berth.emulator", "-H", LOOPBACK, "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            # `berth` is imported from the project root, wherever the caller runs.
            cwd=PROJECT_ROOT,
        )
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise EmulatorError(
                    f"the AWS emulator exited with code {self._process.returncode} before"
                    f" answering on {self.endpoint_url}: {self._why_it_exited()}"
                )
            try:
                # Our own loopback URL, never user input.
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise EmulatorError(
            f"the AWS emulator did not answer on {self.endpoint_url} within"
            f" {self.startup_timeout_s:.0f} s"
        )

    def _why_it_exited(self) -> str:
        """The emulator's last log line (it prints one line naming the problem), or a hint."""
        if self.log_path is None:
            return "run `python -m berth.emulator` to see why"
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else f"see {self.log_path}"

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---- a stack applied to the emulator ----


@dataclass(frozen=True)
class LocalDeployment:
    """A `local` stack applied to a running emulator."""

    stack_dir: Path
    terraform_env: dict[str, str]

    def outputs(self) -> dict[str, str]:
        result = run_terraform(
            ["output", "-json"], self.stack_dir, self.terraform_env, capture=True
        )
        return {name: value["value"] for name, value in json.loads(result.stdout).items()}

    def destroy(self) -> None:
        run_terraform(
            ["destroy", "-auto-approve", "-no-color"],
            self.stack_dir,
            self.terraform_env,
            capture=True,
        )


def emulator_terraform_env(endpoint_url: str, region: str) -> dict[str, str]:
    return terraform_environment(
        {
            **EMULATOR_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "TF_VAR_emulator_endpoint": endpoint_url,
        }
    )


def apply_local_stack(
    stack_dir: Path, endpoint_url: str, region: str, state_path: Path
) -> LocalDeployment:
    """`terraform init` + `apply` of a synthesized emulator stack, with state kept at `state_path`."""
    env = emulator_terraform_env(endpoint_url, region)
    run_terraform(
        ["init", "-input=false", "-no-color", "-reconfigure", f"-backend-config=path={state_path}"],
        stack_dir,
        env,
        capture=True,
    )
    run_terraform(
        ["apply", "-auto-approve", "-input=false", "-no-color"], stack_dir, env, capture=True
    )
    return LocalDeployment(stack_dir=stack_dir, terraform_env=env)
