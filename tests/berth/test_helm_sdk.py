"""`berth.helm_sdk.lint` through the real Helm SDK: Berth's output stays Berth's own.

In lint mode Helm's engine logs each `fail` of a chart as an `INFO funcMap fail` line through Go's
default logger, straight to file descriptor 2 (`make up` printed them while publishing). `capfd`
reads that descriptor, so these tests see what a terminal would.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from berth import helm_sdk
from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.publish import package_chart


def _chart(root: Path, template: str, values: str = "bucket: ''\n") -> Path:
    chart = root / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 0.1.0\nicon: https://example.com/x.png\n"
    )
    (chart / "values.yaml").write_text(values)
    (chart / "templates" / "configmap.yaml").write_text(template)
    return chart


# Install-time checks, as Berth's charts write them: with the chart's defaults they all fire.
_GUARDED = """\
{{- if not .Values.bucket }}{{ fail "bucket is required: the bucket to serve" }}{{ end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
"""


def test_lint_keeps_the_engines_info_lines_off_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    chart = _chart(tmp_path, _GUARDED)
    with caplog.at_level(logging.DEBUG, logger="berth.helm_sdk"):
        report = helm_sdk.lint(chart, strict=True)

    assert report.errors == []
    err = capfd.readouterr().err
    assert "funcMap fail" not in err
    assert " INFO " not in err
    # Not lost: the line is on Berth's logger, at DEBUG.
    assert any("funcMap fail" in r.getMessage() for r in caplog.records), caplog.records


def test_publishing_a_chart_prints_only_berths_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The lint path of `berth up` / `berth charts publish`, with a real chart of this repository.
    chart = Path(__file__).resolve().parents[2] / "charts" / "s3proxy"
    out = io.StringIO()

    packaged = package_chart(chart, tmp_path, out=out)

    assert packaged.name == "s3proxy"
    captured = capfd.readouterr()
    assert "funcMap" not in captured.err and "funcMap" not in captured.out
    assert out.getvalue().strip().startswith(f"{packaged.label}: lint ok, packaged")


def test_a_lint_error_is_still_reported(tmp_path: Path) -> None:
    chart = _chart(tmp_path, _GUARDED + "data:\n  key: {{ .Values.bucket \n")

    report = helm_sdk.lint(chart)

    assert not report.ok
    assert any("templates/configmap.yaml" in error for error in report.errors), report.errors
    with pytest.raises(ChartRepoError, match=r"demo: helm lint failed: .*configmap\.yaml"):
        package_chart(chart, tmp_path / "out", out=io.StringIO())


def test_go_log_lines_from_warn_up_still_reach_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    chart = _chart(
        tmp_path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        '  name: {{ required "bucket is required" .Values.bucket | default "demo" }}\n',
    )

    helm_sdk.lint(chart)

    assert "WARN missing required value" in capfd.readouterr().err
