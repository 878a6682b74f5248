"""Wiring: configuration -> clients -> refresher, watcher, HTTP server, run loop."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from kubernetes import client
from kubernetes import config as kube_config

from .aws_identity import CredentialsSource
from .config import Config, ConfigError, load_config
from .logs import configure_logging
from .metrics import Metrics
from .refresher import Refresher
from .runner import Runner
from .server import Health, make_app, serve_in_background
from .watcher import NamespaceWatcher

log = logging.getLogger("ecr_refresher")


def kubernetes_api(
    configuration: client.Configuration | None = None, concurrency: int = 8
) -> client.CoreV1Api:
    """A CoreV1Api from `configuration`, else in-cluster config, else the kubeconfig."""
    if configuration is None:
        configuration = client.Configuration()
        try:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except kube_config.ConfigException:
            kube_config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    # Enough pooled connections for the parallel namespace writes plus the watch.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, 64 + 2)
    return client.CoreV1Api(client.ApiClient(configuration))


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ecr_refresher",
        description="Keep an ECR docker login fresh in Kubernetes pull secrets.",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="refresh once and exit (non-zero if any namespace failed), e.g. from a CronJob",
    )
    return parser.parse_args(list(argv))


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    kube_configuration: client.Configuration | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the refresher; returns the process exit code."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    try:
        config = load_config(environ)
    except ConfigError as error:
        print(f"ecr_refresher: config error: {error}", file=sys.stderr)
        return 1
    configure_logging(config.log_level)
    try:
        core_api = kubernetes_api(kube_configuration, config.concurrency)
    except kube_config.ConfigException as error:
        print(f"ecr_refresher: kubernetes config error: {error}", file=sys.stderr)
        return 1
    metrics = Metrics()
    # boto3's default credential chain: a shared-credentials file (watched for rotation), web
    # identity, or a credential_process (IAM Roles Anywhere).
    source = CredentialsSource(config.region, environ)
    refresher = Refresher(config, core_api, source.client(), metrics, credentials_source=source)
    runner = Runner(refresher, Health(), stop=stop)
    if args.once:
        report = runner.run_once()
        return 0 if report.ok else 1
    return _serve(config, runner, metrics)


def _serve(config: Config, runner: Runner, metrics: Metrics) -> int:
    stop = runner.stop

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    server = None
    if config.metrics_port:
        server = serve_in_background(make_app(metrics.registry, runner.health), config.metrics_port)
    if config.watches_namespaces:
        NamespaceWatcher(
            runner.refresher.core_api,
            config.namespace_selector or None,
            runner.namespace_added,
            runner.namespace_deleted,
            stop,
        ).start()
    log.info("started", extra={"mode": config.mode.value, "secret": config.secret_name})
    try:
        runner.run_forever()
    finally:
        if server is not None:
            server.shutdown()
    return 0
