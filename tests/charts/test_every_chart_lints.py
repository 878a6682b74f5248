"""Every chart in charts/ lints clean, as `berth charts publish` requires.

Publishing lints each chart with its own values.yaml, so the defaults must pass the schema and the
templates; required values are checked at install time instead (`.Release.IsInstall`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from berth import helm_sdk

CHARTS = Path(__file__).resolve().parents[2] / "charts"
CHART_DIRS = sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))
CI_CASES = [
    (chart, ci) for chart in CHART_DIRS for ci in sorted((chart / "ci").glob("*-values.yaml"))
]


def test_charts_are_found() -> None:
    assert {p.name for p in CHART_DIRS} >= {"otel-agent", "s3proxy", "ecr-credential-refresher"}


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=lambda p: p.name)
def test_chart_lints_with_its_defaults(chart_dir: Path) -> None:
    report = helm_sdk.lint(chart_dir, strict=False)
    assert report.errors == []


@pytest.mark.parametrize(
    ("chart_dir", "ci_file"), CI_CASES, ids=[f"{c.name}/{f.name}" for c, f in CI_CASES]
)
def test_chart_lints_with_each_ci_values_file(chart_dir: Path, ci_file: Path) -> None:
    values: dict[str, Any] = yaml.safe_load(ci_file.read_text()) or {}
    report = helm_sdk.lint(chart_dir, values, strict=False)
    assert report.errors == []
