"""Configuration errors: one line naming the variable, exit 1, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from s3proxy.__main__ import main, server_options
from s3proxy.config import load_config
from s3proxy_harness import APP_DIR

VALID = {"S3_BUCKET": "my-bucket", "S3PROXY_AUTH_DISABLED": "true"}


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"S3_BUCKET": ""}, "S3_BUCKET"),
        ({"S3_BUCKET": None}, "S3_BUCKET"),
        ({"S3_BUCKET": "Not_A_Bucket"}, "S3_BUCKET"),
        ({"S3PROXY_AUTH_DISABLED": None}, "S3PROXY_HTPASSWD_FILE"),  # secure default
        ({"S3PROXY_AUTH_DISABLED": "maybe"}, "S3PROXY_AUTH_DISABLED"),
        ({"S3PROXY_HTPASSWD_FILE": "/nonexistent/htpasswd"}, "S3PROXY_AUTH_DISABLED"),
        (
            {"S3PROXY_AUTH_DISABLED": "false", "S3PROXY_HTPASSWD_FILE": "/nonexistent/htpasswd"},
            "S3PROXY_HTPASSWD_FILE",
        ),
        ({"S3PROXY_PORT": "eighty"}, "S3PROXY_PORT"),
        ({"S3PROXY_PORT": "70000"}, "S3PROXY_PORT"),
        ({"S3PROXY_WORKERS": "0"}, "S3PROXY_WORKERS"),
        ({"S3PROXY_S3_POOL_SIZE": "-1"}, "S3PROXY_S3_POOL_SIZE"),
        ({"S3PROXY_ACCESS_DENIED_STATUS": "500"}, "S3PROXY_ACCESS_DENIED_STATUS"),
        ({"S3PROXY_READ_TIMEOUT": "0"}, "S3PROXY_READ_TIMEOUT"),
        ({"S3PROXY_CONNECT_TIMEOUT": "soon"}, "S3PROXY_CONNECT_TIMEOUT"),
        ({"S3PROXY_PREFIX": "a/../b"}, "S3PROXY_PREFIX"),
        ({"S3PROXY_INDEX_DOCUMENT": "dir/index.yaml"}, "S3PROXY_INDEX_DOCUMENT"),
        ({"S3PROXY_TLS_CERT_FILE": "/etc/hostname"}, "S3PROXY_TLS_CERT_FILE"),
        ({"S3PROXY_CHUNK_SIZE": "10"}, "S3PROXY_CHUNK_SIZE"),
        ({"S3PROXY_MANAGEMENT_PORT": "8080"}, "S3PROXY_MANAGEMENT_PORT"),  # = S3PROXY_PORT
        ({"S3PROXY_HEADER_TIMEOUT": "61"}, "S3PROXY_HEADER_TIMEOUT"),
        ({"S3PROXY_SEND_TIMEOUT": "0"}, "S3PROXY_SEND_TIMEOUT"),
        ({"S3PROXY_MAX_CONNECTIONS": "8"}, "S3PROXY_MAX_CONNECTIONS"),
        ({"S3PROXY_AUTH_CHECK_THREADS": "0"}, "S3PROXY_AUTH_CHECK_THREADS"),
        ({"S3PROXY_AUTH_MAX_PENDING": "0"}, "S3PROXY_AUTH_MAX_PENDING"),
    ],
)
def test_config_error_is_one_line_naming_the_variable(
    overrides: dict[str, str | None], variable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**VALID, **overrides}
    env = {name: value for name, value in env.items() if value is not None}
    assert main(env) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"s3proxy: configuration error: {variable}:"), lines[0]
    assert captured.out == ""


def test_htpasswd_without_bcrypt_users_still_starts_but_denies(tmp_path: Path) -> None:
    # An htpasswd of MD5/SHA lines loads (with warnings) and admits nobody: no silent bypass.
    from s3proxy.auth import HtpasswdAuthenticator

    path = tmp_path / "htpasswd"
    path.write_text("old:$apr1$abc$def\nplain:{SHA}xyz\n")
    authenticator = HtpasswdAuthenticator(path)
    assert authenticator.user_count == 0
    assert not authenticator.check("old", "anything", now=0.0)


def test_python_dash_m_exits_1_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "s3proxy"],
        env={"PYTHONPATH": str(APP_DIR), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "s3proxy: configuration error: S3_BUCKET: required (the name of the bucket to serve)"
    )
    assert "Traceback" not in result.stderr


def test_defaults_and_normalisation() -> None:
    config = load_config({**VALID, "S3PROXY_PREFIX": "/charts", "S3PROXY_PORT": ""})
    assert config.prefix == "charts/"
    assert config.port == 8080
    assert config.access_denied_status == 403
    assert config.workers == 1


def test_server_options_follow_the_config(tmp_path: Path) -> None:
    from granian.constants import HTTPModes, Interfaces

    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("x")
    key.write_text("y")
    config = load_config(
        {
            **VALID,
            "S3PROXY_PORT": "9443",
            "S3PROXY_WORKERS": "3",
            "S3PROXY_MAX_CONNECTIONS": "512",
            "S3PROXY_HEADER_TIMEOUT": "2.5",
            "S3PROXY_TLS_CERT_FILE": str(cert),
            "S3PROXY_TLS_KEY_FILE": str(key),
        }
    )
    options = server_options(config)
    assert (options["address"], options["port"]) == ("0.0.0.0", 9443)  # noqa: S104
    assert options["interface"] == Interfaces.ASGI
    assert options["http"] == HTTPModes.http1
    assert options["workers"] == 3
    assert options["backpressure"] == 512
    assert options["http1_settings"].header_read_timeout == 2500
    assert (options["ssl_cert"], options["ssl_key"]) == (cert, key)
    assert options["log_access"] is False
