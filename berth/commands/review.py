"""`berth review ENV`: synthesize ENV, run checkov, write the review (berth.review)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from berth import checkov
from berth.config import load_environment
from berth.review import REVIEW_DIR, build_review, write_review


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = subparsers.add_parser(
        "review",
        help="synthesize ENV, run checkov, write cdktf.out/review/ENV.md and ENV.json",
    )
    review.add_argument(
        "environment", metavar="ENV", help="environment name (environments/ENV.yaml)"
    )
    review.add_argument(
        "--outdir", type=Path, default=None, help="cdktf output directory (default: cdktf.out)"
    )
    review.set_defaults(handler=_review)


def _review(args: argparse.Namespace) -> int:
    from berth.synth import OUTDIR, synth_environment

    environment = load_environment(args.environment)
    outdir: Path = args.outdir or OUTDIR
    checkov.checkov_binary()  # fail before the slow synth when checkov is missing
    stack_files = synth_environment(environment, outdir)
    stacks = [json.loads(path.read_text()) for path in stack_files.values()]
    with tempfile.TemporaryDirectory(prefix="berth-review-") as staging:
        root = Path(staging)
        checkov.stage_stacks(dict(stack_files), root)
        checkov.stage_charts(root)
        checkov.stage_dockerfiles(root)
        scan = checkov.run_checkov(root)
    markdown, data = write_review(build_review(environment.name, stacks, scan), outdir / REVIEW_DIR)
    problems = scan.problems()
    print(f"wrote {markdown} and {data}")
    for problem in problems:
        print(f"checkov: {problem}")
    return 1 if problems else 0
