"""`berth charts ...` through the real entry point: exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.publish import discover_charts
from berth.cli import main
from berth_core.config import PROJECT_ROOT
from tests.support.chart_repo import ChartFactory, object_keys

Capture = pytest.CaptureFixture[str]


def _run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_publish_then_republish(
    env_file: Path, make_chart: ChartFactory, s3: Any, bucket: str, capsys: Capture
) -> None:
    chart = str(make_chart("demo", "0.1.0"))

    code, out, err = _run(capsys, "charts", "publish", chart, "--env", str(env_file))
    assert (code, err) == (0, "")
    assert f"Publishing 1 chart(s) to s3://{bucket} (citest)" in out
    assert f"s3://{bucket}: 1 uploaded, 0 skipped, 0 refused, 0 index retries" in out

    code, out, err = _run(capsys, "charts", "publish", chart, "--env", str(env_file))
    assert code == 1
    assert err == (
        "berth: already published, not replaced: demo 0.1.0"
        " (bump the chart version, or use --force / --skip-existing)\n"
    )
    assert "demo 0.1.0: REFUSED: demo-0.1.0.tgz already exists" in out

    code, _, err = _run(capsys, "charts", "publish", chart, "--env", str(env_file), "--force")
    assert (code, err) == (0, "")


def test_verify_reindex_delete_round_trip(
    env_file: Path, make_chart: ChartFactory, s3: Any, bucket: str, capsys: Capture
) -> None:
    _run(capsys, "charts", "publish", str(make_chart("demo", "0.1.0")), "--env", str(env_file))
    archive = s3.get_object(Bucket=bucket, Key="demo-0.1.0.tgz")["Body"].read()
    s3.put_object(Bucket=bucket, Key="demo-0.2.0.tgz", Body=archive)  # e.g. copied by hand

    code, out, err = _run(capsys, "charts", "verify", "--env", str(env_file))
    assert code == 1
    assert out == "demo-0.2.0.tgz: archive is not in index.yaml\n"
    assert err == f"s3://{bucket}: 1 problem(s)\n"

    code, out, _ = _run(capsys, "charts", "reindex", "--env", str(env_file))
    assert code == 0
    # The copy holds demo 0.1.0 (Helm reads the version inside the archive): a duplicate.
    assert "ignored demo-0.2.0.tgz: duplicate of demo-0.1.0.tgz" in out
    assert "  added " not in out

    code, out, _ = _run(capsys, "charts", "delete", "demo", "0.1.0", "--env", str(env_file))
    assert code == 0
    assert "demo 0.1.0: removed from index.yaml" in out
    s3.delete_object(Bucket=bucket, Key="demo-0.2.0.tgz")
    assert object_keys(s3, bucket) == [".berth/reindex-digests.json", "index.yaml"]

    code, out, _ = _run(capsys, "charts", "verify", "--env", str(env_file))
    assert (code, out) == (0, f"s3://{bucket}: index.yaml and archives agree\n")


def test_corrupt_index_is_one_clear_line(
    env_file: Path, make_chart: ChartFactory, s3: Any, bucket: str, capsys: Capture
) -> None:
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=b"<html>503</html>")

    code, _, err = _run(capsys, "charts", "publish", str(make_chart()), "--env", str(env_file))

    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"berth: s3://{bucket}/index.yaml: not a Helm repository index")
    assert s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read() == b"<html>503</html>"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["charts", "verify", "--env", "/nonexistent/dev.yaml"], "no such environment file"),
        (["charts", "delete", "nope", "1.0.0"], "not in s3://"),
        (["charts", "publish", "/nonexistent-chart"], "not a chart directory (no Chart.yaml)"),
    ],
)
def test_expected_failures_are_one_line(
    argv: list[str], message: str, env_file: Path, capsys: Capture
) -> None:
    if "--env" not in argv:
        argv = [*argv, "--env", str(env_file)]

    code, _, err = _run(capsys, *argv)

    assert code == 1
    assert err.startswith("berth: ")
    assert message in err
    assert err.count("\n") == 1


def test_emulator_environment_needs_an_endpoint(
    env_file: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    code, _, err = _run(capsys, "charts", "verify", "--env", str(env_file))

    assert code == 1
    assert "lives in the emulator: run `berth emulator`" in err
    assert "AWS_ENDPOINT_URL is not set" in err


def test_python_dash_m_berth_publishes(
    env_file: Path, make_chart: ChartFactory, s3: Any, bucket: str
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "charts",
            "publish",
            str(make_chart("sub", "1.0.0")),
            "--env",
            str(env_file),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert object_keys(s3, bucket) == ["index.yaml", "sub-1.0.0.tgz"]


def test_discover_charts_finds_chart_directories(tmp_path: Path) -> None:
    for name in ("b", "a"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Chart.yaml").write_text("name: x\n")
    (tmp_path / "not-a-chart").mkdir()

    assert discover_charts(tmp_path) == [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(ChartRepoError, match="no charts"):
        discover_charts(tmp_path / "not-a-chart")
