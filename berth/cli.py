"""The `berth` command: project tasks around the cdktf app.

Each task module registers its own sub-command with `register(subparsers)`; this file only
wires them and turns expected failures into one clear line and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from berth.aws import CredentialsError
from berth.chart_repo.errors import ChartRepoError
from berth.config import ConfigError
from berth.local import EmulatorError
from berth.proxy_check import ProxyCheckError
from berth.terraform import TerraformError

Handler = Callable[[argparse.Namespace], int]

EXIT_USAGE = 2
EXIT_FAILURE = 1


class BerthError(Exception):
    """An expected failure: shown as one line, never as a traceback."""


def build_parser() -> argparse.ArgumentParser:
    # Imported here so `berth --help` stays fast and each task loads only what it needs.
    from berth import (
        commands_env,
        commands_local,
        commands_secret,
        deploy_permissions,
        preflight,
        refresher_keys,
    )
    from berth.chart_repo import cli as chart_repo_cli
    from berth.commands import review

    parser = argparse.ArgumentParser(
        prog="berth",
        description="Berth: AWS and Kubernetes plumbing for an EKS estate, as cdktf stacks.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        commands_env,
        commands_local,
        commands_secret,
        chart_repo_cli,
        review,
        preflight,
        deploy_permissions,
        refresher_keys,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (
        ConfigError,
        BerthError,
        ChartRepoError,
        TerraformError,
        EmulatorError,
        ProxyCheckError,
        CredentialsError,
    ) as error:
        print(f"berth: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("berth: interrupted", file=sys.stderr)
        return 130
