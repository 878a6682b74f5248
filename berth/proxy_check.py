"""The main job's last proof: a stock Helm client reads the private repository over HTTPS.

The S3 proxy (`apps/s3proxy`, run as its own process exactly as its image runs it) serves the
`local` Helm repository (its bucket, below its prefix) with TLS and basic auth; the real Helm SDK downloads the index,
pulls a chart and renders it. No public bucket and no Helm plugin are involved.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from berth import helm_sdk
from berth.local import LOOPBACK, free_loopback_port, stop_process, write_loopback_certificate
from berth_core.config import PROJECT_ROOT
from berth_core.errors import BerthError

S3PROXY_APP = PROJECT_ROOT / "apps" / "s3proxy"
PROXY_USER = "helm"
PROXY_CHART = "s3proxy"


class ProxyCheckError(BerthError):
    """The proxy did not start or the Helm client could not read through it."""


@dataclass(frozen=True)
class ProxyCheck:
    """What the Helm client got through the proxy."""

    url: str
    charts: list[str]
    pulled: str
    rendered_kinds: list[str]


def _write_htpasswd(directory: Path, password: str) -> Path:
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    path = directory / "htpasswd"
    path.write_text(f"{PROXY_USER}:{hashed}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _wait_for_health(process: subprocess.Popen[bytes], management_port: int, log: Path) -> None:
    # /healthz lives on the proxy's management listener (plain HTTP), apart from the content.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProxyCheckError(f"the S3 proxy exited early; see {log}")
        try:
            url = f"http://{LOOPBACK}:{management_port}/healthz"
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ProxyCheckError(f"the S3 proxy did not answer on port {management_port}; see {log}")


def pull_through_proxy(
    bucket: str, region: str, emulator_env: dict[str, str], work: Path, prefix: str = ""
) -> ProxyCheck:
    """Serve the repository below `prefix` of `bucket` through the S3 proxy and read it with
    the Helm SDK as a repository (the proxy's `/` is the prefix, as `s3://BUCKET/PREFIX` is
    for helm-s3)."""
    work.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    cert, key = write_loopback_certificate(work)
    port = free_loopback_port()
    management_port = free_loopback_port()
    log = work / "s3proxy.log"
    env = {
        **os.environ,
        **emulator_env,
        "PYTHONPATH": str(S3PROXY_APP),
        "AWS_REGION": region,
        "S3_BUCKET": bucket,
        "S3PROXY_BIND_ADDRESS": LOOPBACK,
        "S3PROXY_PORT": str(port),
        "S3PROXY_PREFIX": prefix,
        "S3PROXY_MANAGEMENT_PORT": str(management_port),
        "S3PROXY_INDEX_DOCUMENT": "index.yaml",
        "S3PROXY_HTPASSWD_FILE": str(_write_htpasswd(work, password)),
        "S3PROXY_TLS_CERT_FILE": str(cert),
        "S3PROXY_TLS_KEY_FILE": str(key),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "s3proxy"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"https://{LOOPBACK}:{port}"
    try:
        _wait_for_health(process, management_port, log)
        credentials = {"username": PROXY_USER, "password": password}
        index = helm_sdk.fetch_index(url, **credentials, insecure_skip_tls_verify=True)
        charts = sorted(index.get("entries", {}))
        if PROXY_CHART not in charts:
            raise ProxyCheckError(
                f"{url}/index.yaml does not list the {PROXY_CHART} chart: {charts}"
            )
        # The proxy serves its own chart: pull it and render it as an install would.
        archive = helm_sdk.pull(
            PROXY_CHART, url, work / "pulled", **credentials, insecure_skip_tls_verify=True
        )
        values = {"s3": {"bucket": bucket}, "auth": {"existingSecret": "s3proxy-htpasswd"}}
        manifests = helm_sdk.render(archive.read_bytes(), values)
        kinds = sorted({manifest["kind"] for manifest in manifests})
    except helm_sdk.HelmError as error:
        raise ProxyCheckError(
            f"Helm could not read the repository through the proxy: {error}"
        ) from error
    finally:
        stop_process(process)
    return ProxyCheck(url=url, charts=charts, pulled=archive.name, rendered_kinds=kinds)
