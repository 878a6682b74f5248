"""Synthesis benchmark: cold synth of every stack with eager vs lazy provider bindings.

Usage: `pipenv run python bench/synth_bench.py [--runs 3] [--synth-only]` (or `make bench`).
Every measurement is a fresh Python process (a cold start: new jsii kernel, nothing imported),
eager and lazy runs interleaved so that machine noise hits both alike; the table shows medians.
Eager is the bindings' own import (`BERTH_LAZY_BINDINGS=0`), lazy is berth/lazy_bindings.py.
Goal: lazy synth <= 0.35 x eager synth, and under 10 s for all stacks.
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
GOAL_RATIO = 0.35
GOAL_SECONDS = 10.0
MODES = {"eager": "0", "lazy": "1"}

# Each import row runs with the finder installed as the app installs it (the switch decides).
_INSTALL = "from berth import lazy_bindings; lazy_bindings.install(); "
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


def _timed(code: str, mode: str = "lazy") -> float:
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "BERTH_LAZY_BINDINGS": MODES[mode],
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _medians(code: str, runs: int) -> dict[str, float]:
    """Median wall time per mode, eager and lazy runs interleaved."""
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(runs):
        for mode in MODES:
            times[mode].append(_timed(code, mode))
    return {mode: statistics.median(values) for mode, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--synth-only", action="store_true", help="skip the import rows")
    args = parser.parse_args()

    rows: list[tuple[str, dict[str, float]]] = []
    baseline = statistics.median(_timed("pass") for _ in range(args.runs))
    if not args.synth_only:
        for label, code in IMPORTS.items():
            medians = _medians(_INSTALL + code, args.runs)
            rows.append((f"import {label}", {m: s - baseline for m, s in medians.items()}))
    with tempfile.TemporaryDirectory() as outdir:
        synth = (
            "from pathlib import Path; from berth.synth import synth_all; "
            f"synth_all(outdir=Path({outdir!r}))"
        )
        synth_medians = _medians(synth, args.runs)
    rows.append(("full synth, all stacks (wall, cold process)", synth_medians))

    print(f"{'measurement':<46} {'eager s':>8} {'lazy s':>8} {'lazy/eager':>11}")
    print("-" * 76)
    for label, medians in rows:
        ratio = medians["lazy"] / medians["eager"] if medians["eager"] > 0 else float("nan")
        print(f"{label:<46} {medians['eager']:>8.2f} {medians['lazy']:>8.2f} {ratio:>11.2f}")
    print("-" * 76)
    ratio = synth_medians["lazy"] / synth_medians["eager"]
    met = ratio <= GOAL_RATIO and synth_medians["lazy"] < GOAL_SECONDS
    print(
        f"goal: lazy synth <= {GOAL_RATIO} x eager and < {GOAL_SECONDS:.0f} s "
        f"({'met' if met else 'NOT met'}: {ratio:.2f} x, {synth_medians['lazy']:.2f} s); "
        f"anchor: eager synth in the same run; medians of {args.runs} runs; "
        f"python start-up {baseline:.2f} s excluded from the import rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
