"""Synthesis benchmark: cold `cdktf synth` of every stack, and what the provider bindings cost.

Usage: `pipenv run python bench/synth_bench.py [--runs 3]` (or `make bench`). Each measurement
runs in a fresh Python process, so every number is a cold start. Goal: full synth < 15 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 15.0

IMPORTS = {
    "cdktf + constructs": "import cdktf, constructs",
    "aws binding (modules used)": (
        "import cdktf_cdktf_provider_aws.s3_bucket, cdktf_cdktf_provider_aws.iam_role, "
        "cdktf_cdktf_provider_aws.provider"
    ),
    "helm binding (provider, release)": "import cdktf_cdktf_provider_helm.provider, cdktf_cdktf_provider_helm.release",
    "kubernetes binding (provider, sa)": (
        "import cdktf_cdktf_provider_kubernetes.provider, cdktf_cdktf_provider_kubernetes.service_account_v1"
    ),
}


def _timed(code: str) -> float:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    baseline = statistics.median(_timed("pass") for _ in range(args.runs))
    rows: list[tuple[str, float]] = []
    for label, code in IMPORTS.items():
        rows.append(
            (
                f"import {label}",
                statistics.median(_timed(code) for _ in range(args.runs)) - baseline,
            )
        )
    with tempfile.TemporaryDirectory() as outdir:
        synth = f"from pathlib import Path; from berth.synth import synth_all; synth_all(outdir=Path({outdir!r}))"
        synth_times = [_timed(synth) for _ in range(args.runs)]
    synth_median = statistics.median(synth_times)
    rows.append(("full synth, all stacks (wall, cold process)", synth_median))

    print(f"{'measurement':<48} {'median s':>9}")
    print("-" * 58)
    for label, seconds in rows:
        print(f"{label:<48} {seconds:>9.2f}")
    print("-" * 58)
    verdict = "met" if synth_median < GOAL_SECONDS else "NOT met"
    print(
        f"goal: full synth < {GOAL_SECONDS:.0f} s ({verdict}); python start-up {baseline:.2f} s excluded from imports"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
