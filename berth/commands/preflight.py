"""`berth preflight ENV [--step account|cluster|workloads]`: the checks of berth.preflight, printed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.aws import add_credentials_arguments, environment_session, role_choice
from berth.preflight import STEPS, Preflight, cluster_client, steps_of
from berth_core.config import load_environment
from berth_core.errors import BerthError

if TYPE_CHECKING:
    import boto3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    preflight = subparsers.add_parser(
        "preflight",
        help="check what each deploy step waits for (bootstrap, images, secrets, namespaces)",
        description="Check the preconditions of a deploy step, as the deploy role. Steps:"
        " account (cdktf deploy ENV), cluster (ENV-cluster), workloads (ENV-workloads).",
    )
    preflight.add_argument("environment", metavar="ENV", help="environment name")
    preflight.add_argument(
        "--step",
        choices=(*STEPS, "all"),
        default="all",
        help="the step about to be deployed (default: all, in order)",
    )
    preflight.add_argument(
        "--kubeconfig",
        type=Path,
        help="reach the cluster with this kubeconfig instead of EKS + aws eks get-token (or the"
        " environment file's way into a cluster outside EKS)",
    )
    preflight.add_argument("--context", help="kubeconfig context (with --kubeconfig)")
    add_credentials_arguments(preflight)
    preflight.set_defaults(handler=_preflight)


def _preflight(args: argparse.Namespace) -> int:
    environment = load_environment(args.environment)
    try:
        steps = steps_of(environment, args.step)
    except ValueError as error:
        raise BerthError(str(error)) from None
    choice = role_choice(environment, args)

    def session() -> boto3.Session:
        return environment_session(environment, choice)

    def kube() -> Any:
        return cluster_client(environment, session, args.kubeconfig, args.context)

    checks = Preflight(environment, session, kube).run(steps)
    print(f"preflight of {environment.name} as {choice.description}:")
    for check in checks:
        print(f"  {check.line()}")
    failed = [check for check in checks if not check.ok]
    if failed:
        print(f"{len(failed)} of {len(checks)} checks failed: fix them before deploying")
        return 1
    print(f"all {len(checks)} checks passed: {', '.join(steps)} may be deployed")
    return 0
