"""`python -m s3proxy`: validate the configuration, then serve the app under gunicorn.

gunicorn is configured here (not with a config file) so the environment variables in
`s3proxy.config` are the single source of truth. Workers are `gthread`: a streaming response
holds a thread, not a process, and the S3 client is created once per worker process after the
fork (never shared across processes).
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

from s3proxy.auth import HtpasswdAuthenticator, HtpasswdError
from s3proxy.config import Config, ConfigError, load_config


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn's documented custom-application hook: options from our Config, app per worker."""

    def __init__(self, config: Config) -> None:
        self._config = config
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self._config).items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        # Runs in each worker after the fork: one app, one S3 client, one pool per process.
        # Imported here, after the fork and after PROMETHEUS_MULTIPROC_DIR is set.
        from s3proxy.access_log import configure_logging
        from s3proxy.app import create_app

        configure_logging()
        return create_app(self._config)


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(config: Config) -> dict[str, Any]:
    """gunicorn settings derived from the proxy's configuration."""
    options: dict[str, Any] = {
        "bind": [f"{config.bind_address}:{config.port}"],
        "workers": config.workers,
        "worker_class": "gthread",
        "threads": config.threads,
        # A streaming thread keeps the worker's heartbeat alive; this only bounds a stuck worker.
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,  # our JSON access log replaces gunicorn's
        "errorlog": "-",
        "loglevel": "info",
        # Read-only root filesystem: no control socket, heartbeat files in the writable /tmp.
        "control_socket_disable": True,
        "worker_tmp_dir": tempfile.gettempdir(),
        "proc_name": "s3proxy",
    }
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        options["certfile"] = str(config.tls_cert_file)
        options["keyfile"] = str(config.tls_key_file)
    if config.workers > 1:
        options["child_exit"] = _child_exit
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
        # Must be set before prometheus_client is imported (by the workers' app).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="s3proxy-metrics-")
    _Gunicorn(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
