"""`berth validate` and `berth synth`: check the environment files, write the Terraform JSON."""

from __future__ import annotations

import argparse

from berth_core.config import load_all_environments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = subparsers.add_parser(
        "validate", help="check every environments/*.yaml, write nothing"
    )
    validate.set_defaults(handler=_validate)
    synth = subparsers.add_parser(
        "synth", help="validate, then write cdktf.out/stacks/<env>/cdk.tf.json"
    )
    synth.set_defaults(handler=_synth)


def _validate(args: argparse.Namespace) -> int:
    for environment in load_all_environments():
        cluster = environment.cluster.name if environment.cluster else "no cluster"
        if environment.external_cluster is not None:
            cluster = f"{environment.external_cluster.name} (outside EKS)"
        print(
            f"ok  {environment.name:<8} account {environment.account_id}  {environment.region}  {cluster}"
        )
    return 0


def _synth(args: argparse.Namespace) -> int:
    from berth.synth import OUTDIR, synth_all

    for name in synth_all():
        print(f"synthesized {name}: {OUTDIR.name}/stacks/{name}/cdk.tf.json")
    return 0
