"""Synthesis in-process: the same app `cdktf synth` runs, without the CLI round trip."""

from __future__ import annotations

import os
from pathlib import Path

from berth import lazy_bindings
from berth_core.config import PROJECT_ROOT, Environment, load_all_environments

OUTDIR = PROJECT_ROOT / "cdktf.out"


def stack_dir(name: str, outdir: Path = OUTDIR) -> Path:
    return outdir / "stacks" / name


def synth_all(
    environments: list[Environment] | None = None, outdir: Path | None = None
) -> list[str]:
    """Write `<outdir>/stacks/<stack>/cdk.tf.json` for every stack of every environment; returns
    the stack names.

    Without `outdir`: the folder the cdktf CLI asks for (`--output`, passed as CDKTF_OUTDIR),
    else the project's `cdktf.out/`.
    """
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    # Only the binding modules the stacks import are loaded (see berth/lazy_bindings.py), and
    # only commands that synthesize pay for them.
    lazy_bindings.install()
    from cdktf import App

    from stacks import add_environment

    environments = environments if environments is not None else load_all_environments()
    app = App(outdir=str(outdir or os.environ.get("CDKTF_OUTDIR") or OUTDIR))
    names = []
    for environment in environments:
        names += [stack.node.id for stack in add_environment(app, environment)]
    app.synth()
    return names


def synth_environment(environment: Environment, outdir: Path = OUTDIR) -> dict[str, Path]:
    """Synthesize one environment's stacks; each stack's `cdk.tf.json` by stack name, in
    deploy order."""
    synth_all([environment], outdir=outdir)
    return {name: stack_dir(name, outdir) / "cdk.tf.json" for name in environment.stack_names}
