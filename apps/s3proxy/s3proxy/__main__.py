"""`python -m s3proxy`: validate the configuration, then serve the ASGI app under granian.

granian (a Rust HTTP server: hyper and tokio) parses HTTP, enforces the header-read timeout
(idle and half-sent requests are closed), answers bytes that are not HTTP with 400 and a
close, and holds many idle connections without a thread each. It is configured here (not with
its CLI) so the environment variables in `s3proxy.config` stay the single source of truth.
Each worker process imports `s3proxy.app:create_app` and runs one event loop.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from s3proxy.auth import HtpasswdAuthenticator, HtpasswdError
from s3proxy.config import Config, ConfigError, load_config

# Seconds a stopping worker gets to finish its responses before it is killed.
_GRACEFUL_STOP_S = 30


def server_options(config: Config) -> dict[str, Any]:
    """granian `Server` keyword arguments derived from the proxy's configuration."""
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings

    options: dict[str, Any] = {
        "target": "s3proxy.app:create_app",
        "factory": True,
        "address": config.bind_address,
        "port": config.port,
        "interface": Interfaces.ASGI,
        "workers": config.workers,
        "http": HTTPModes.http1,
        "websockets": False,
        # Connections per worker; past it new ones wait in the kernel's backlog.
        "backpressure": config.max_connections,
        "http1_settings": HTTP1Settings(
            header_read_timeout=round(config.header_timeout * 1000), keep_alive=True
        ),
        "log_access": False,  # our JSON access log replaces granian's
        "respawn_failed_workers": True,
        "workers_kill_timeout": _GRACEFUL_STOP_S,
    }
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        options["ssl_cert"] = config.tls_cert_file
        options["ssl_key"] = config.tls_key_file
        options["ssl_protocol_min"] = SSLProtocols.tls12
    return options


def main(environ: dict[str, str] | None = None) -> int:
    """Entry point: exit 1 with one line naming the variable when the configuration is bad."""
    env = dict(os.environ if environ is None else environ)
    try:
        config = load_config(env)
        if config.htpasswd_file is not None:
            try:
                HtpasswdAuthenticator(config.htpasswd_file)
            except HtpasswdError as error:
                raise ConfigError(f"S3PROXY_HTPASSWD_FILE: {error}") from None
    except ConfigError as error:
        print(f"s3proxy: configuration error: {error}", file=sys.stderr)
        return 1
    if config.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Set before any worker imports prometheus_client: every worker's samples are summed.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="s3proxy-metrics-")
    from granian.server import Server

    Server(**server_options(config)).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
