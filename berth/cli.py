"""The `berth` command: project tasks around the cdktf app.

Each module of `berth.commands` registers its own sub-commands with `register(subparsers)`;
this file only wires them and turns expected failures (`BerthError` and its subclasses) into
one clear line and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from berth.commands import GROUPS
from berth_core.errors import BerthError

Handler = Callable[[argparse.Namespace], int]

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berth",
        description="Berth: AWS and Kubernetes plumbing for an EKS estate, as cdktf stacks.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        # Each group imports what its handlers need; `berth --help` loads no provider binding.
        importlib.import_module(f"berth.commands.{group}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except BerthError as error:
        print(f"berth: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("berth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
