"""The README's main job, `berth up`, end to end on a fresh emulator, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from berth_core.config import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-main-job")]


def test_berth_up_deploys_publishes_and_serves_the_repository_through_the_proxy(
    tmp_path: Path,
) -> None:
    outdir = tmp_path / "cdktf.out"
    result = subprocess.run(
        [sys.executable, "-m", "berth", "up", "--outdir", str(outdir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, f"{output[-4000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    # Berth's own lines only: the Helm engine's lint-mode log lines are kept off stderr.
    assert "funcMap fail" not in result.stderr
    # Deployed: the outputs of the local stack.
    assert "helm_repo_url = s3://berth-local-helm-charts/charts" in output
    # Published every chart of charts/ and verified the repository.
    charts = sorted(path.parent.name for path in (PROJECT_ROOT / "charts").glob("*/Chart.yaml"))
    assert f"{len(charts)} uploaded, 0 skipped, 0 refused" in output
    assert "problem:" not in output
    # The secret went in through `berth secret put` and is in neither state nor JSON.
    assert "the value appears 0 times in terraform.tfstate, cdk.tf.json" in output
    # A Helm client read the private repository through the proxy and rendered a chart.
    assert f"charts {', '.join(charts)}" in output
    assert "pulled s3proxy-" in output and "Deployment" in output
    # Torn down at the end; the run kept its files in the given folder, not the project's.
    assert output.rstrip().endswith("berth up: ok")
    assert (outdir / "stacks" / "local" / "cdk.tf.json").exists()
