"""`berth deploy-role-policy ENV [--table]`: the deploy role's policy derived from ENV's stacks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from berth.deploy_permissions import UnknownTypeError, deploy_role_policy, markdown_table
from berth_core.config import load_environment
from berth_core.errors import BerthError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "deploy-role-policy",
        help="print the IAM policy the deploy role needs, derived from ENV's stacks",
    )
    command.add_argument("environment", metavar="ENV", help="environment name")
    command.add_argument(
        "--table", action="store_true", help="print the actions per service (Markdown) instead"
    )
    command.add_argument(
        "--outdir", type=Path, default=None, help="cdktf output directory (default: cdktf.out)"
    )
    command.set_defaults(handler=_deploy_role_policy)


def _deploy_role_policy(args: argparse.Namespace) -> int:
    from berth.synth import OUTDIR, synth_environment

    environment = load_environment(args.environment)
    if environment.deploy_role is None:
        raise BerthError(f"{environment.name} has no deploy role (the emulator environment)")
    outdir: Path = args.outdir or OUTDIR
    stacks = [
        json.loads(path.read_text()) for path in synth_environment(environment, outdir).values()
    ]
    try:
        policy = deploy_role_policy(environment, stacks)
    except UnknownTypeError as error:
        raise BerthError(str(error)) from None
    print(
        markdown_table(policy) if args.table else json.dumps(policy, indent=2),
        end="" if args.table else "\n",
    )
    return 0
