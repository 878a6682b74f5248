"""`berth refresher rotate-key ENV`: a new access key for the refresher's IAM user, straight into the cluster."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from berth.aws import add_credentials_arguments, environment_session, role_choice
from berth.refresher_keys import KeyRotation, registry_login, releases_to_rotate
from berth_core.config import load_environment

if TYPE_CHECKING:
    import boto3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    refresher = subparsers.add_parser(
        "refresher", help="the ECR credential refresher of a cluster outside EKS"
    )
    actions = refresher.add_subparsers(dest="refresher_command", required=True, metavar="ACTION")
    rotate = actions.add_parser(
        "rotate-key",
        help="make a new access key for the refresher's IAM user, put it in the cluster, delete"
        " the old one once the refresher uses the new one",
        description="For ecr_refresher.identity: iam_user. The key goes from IAM straight into"
        " the Secret the chart mounts; it never passes through Terraform or the terminal.",
    )
    rotate.add_argument("environment", metavar="ENV", help="environment name")
    rotate.add_argument(
        "--release",
        choices=("all", "ecr-credential-refresher", "ecr-build-credentials"),
        default="all",
        help="whose key: the pull release's, the build release's, or both (default)",
    )
    rotate.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the refresher to use the new key (default 600)",
    )
    rotate.add_argument(
        "--kubeconfig", help="reach the cluster with this kubeconfig instead of the file's way"
    )
    rotate.add_argument("--context", help="kubeconfig context (with --kubeconfig)")
    add_credentials_arguments(rotate)
    rotate.set_defaults(handler=_rotate_key)


def _rotate_key(args: argparse.Namespace) -> int:
    from kubernetes import client

    from berth.preflight import external_kube_client, kube_client_from_kubeconfig

    environment = load_environment(args.environment)
    releases = releases_to_rotate(environment, args.release)
    session: boto3.Session = environment_session(environment, role_choice(environment, args))
    api = (
        kube_client_from_kubeconfig(args.kubeconfig, args.context)
        if args.kubeconfig
        else external_kube_client(environment)
    )
    for release in releases:
        rotation = KeyRotation(
            release,
            iam=session.client("iam"),
            core_v1=client.CoreV1Api(api),
            login=registry_login(environment.region),
            timeout_s=args.timeout,
        ).run()
        deleted = ", ".join(rotation.deleted) or "none (it was the first key)"
        print(f"{rotation.release}: now {rotation.new_key_id}; old keys deleted: {deleted}")
    return 0
