"""Command line: read the settings, wire the pieces, turn every failure into one line + exit 1."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

from appconfig_fetch import __version__
from appconfig_fetch.config import ConfigError, FetchConfig, load_config, logging_level
from appconfig_fetch.fetcher import Fetcher, FetchError, build_client, configure_logging
from appconfig_fetch.health import HealthServer, HealthState

log = logging.getLogger("appconfig_fetch")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="appconfig-fetch",
        description="Fetch an AppConfig configuration into a file (settings from the environment).",
    )
    parser.add_argument(
        "--once", action="store_true", help="fetch, write and exit (init-container mode)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def check_output_directory(config: FetchConfig) -> None:
    """The output directory must exist and be writable (the emptyDir mount)."""
    directory = config.output_path.parent
    if not directory.is_dir():
        raise ConfigError(f"APPCONFIG_FETCH_OUTPUT: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"APPCONFIG_FETCH_OUTPUT: directory {directory} is not writable")


def serve(fetcher: Fetcher, state: HealthState, config: FetchConfig) -> None:
    """Long-running mode: probes on a background thread, the poll loop on this one."""
    server = HealthServer(state, config.health_address, config.health_port).start()
    try:
        fetcher.run()
    finally:
        server.stop()


def _install_signal_handlers(fetcher: Fetcher) -> None:
    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; stopping", signum)
        fetcher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    client: Any = None,
) -> int:
    """Entry point; returns the process exit code (0 done, 1 configuration or fetch failure)."""
    args = _parse_args(argv)
    try:
        config = load_config(os.environ if environ is None else environ)
        check_output_directory(config)
    except ConfigError as error:
        print(f"appconfig-fetch: configuration error: {error}", file=sys.stderr)
        return 1
    configure_logging(logging_level(config))
    state = HealthState(config.output_path)
    try:
        fetcher = Fetcher(config, client or build_client(config), state=state)
        if args.once:
            fetcher.run_once()
        else:
            _install_signal_handlers(fetcher)
            serve(fetcher, state, config)
    except FetchError as error:
        log.error("%s", error)
        return 1
    except OSError as error:
        # e.g. the probe port is taken: one line, no traceback.
        log.error("APPCONFIG_FETCH_HEALTH_PORT: cannot listen: %s", error.strerror or error)
        return 1
    return 0
