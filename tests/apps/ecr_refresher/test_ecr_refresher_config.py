"""Configuration errors: one line naming the variable, exit 1, no traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from ecr_refresher.app import main
from ecr_refresher.config import TargetMode, load_config

APP_DIR = Path(__file__).resolve().parents[3] / "apps" / "ecr_refresher"
BASE = {"AWS_REGION": "eu-west-1", "ECR_REFRESHER_NAMESPACES": "team-a"}


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"AWS_REGION": ""}, "AWS_REGION", "is required"),
        ({"ECR_REFRESHER_NAMESPACES": ""}, "ECR_REFRESHER_NAMESPACES", "exactly one"),
        (
            {"ECR_REFRESHER_NAMESPACE_SELECTOR": "team=x"},
            "ECR_REFRESHER_NAMESPACES / ECR_REFRESHER_NAMESPACE_SELECTOR",
            "got ECR_REFRESHER_NAMESPACES and ECR_REFRESHER_NAMESPACE_SELECTOR",
        ),
        ({"ECR_REFRESHER_ALL_NAMESPACES": "maybe"}, "ECR_REFRESHER_ALL_NAMESPACES", "boolean"),
        ({"ECR_REFRESHER_NAMESPACES": "Team_A"}, "ECR_REFRESHER_NAMESPACES", "namespace name"),
        ({"ECR_REFRESHER_SECRET_NAME": "-bad"}, "ECR_REFRESHER_SECRET_NAME", "secret name"),
        ({"ECR_REFRESHER_REGISTRY_IDS": "12345"}, "ECR_REFRESHER_REGISTRY_IDS", "12 digits"),
        ({"ECR_REFRESHER_REFRESH_MARGIN": "5x"}, "ECR_REFRESHER_REFRESH_MARGIN", "duration"),
        ({"ECR_REFRESHER_REFRESH_MARGIN": "11h"}, "ECR_REFRESHER_REFRESH_MARGIN", "between"),
        ({"ECR_REFRESHER_METRICS_PORT": "http"}, "ECR_REFRESHER_METRICS_PORT", "integer"),
        ({"ECR_REFRESHER_METRICS_PORT": "70000"}, "ECR_REFRESHER_METRICS_PORT", "65535"),
        ({"ECR_REFRESHER_CONCURRENCY": "0"}, "ECR_REFRESHER_CONCURRENCY", "greater than"),
        (
            {"ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT": "builder"},
            "ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT",
            "BUILDER_SECRET_NAME",
        ),
        (
            {"ECR_REFRESHER_BUILDER_SECRET_NAME": "ecr-pull"},
            "ECR_REFRESHER_BUILDER_SECRET_NAME",
            "must differ",
        ),
        ({"ECR_REFRESHER_LOG_LEVEL": "loud"}, "ECR_REFRESHER_LOG_LEVEL", "DEBUG"),
        (
            {"ECR_REFRESHER_STATUS_CONFIGMAP": "status"},
            "ECR_REFRESHER_STATUS_CONFIGMAP",
            "ECR_REFRESHER_STATUS_NAMESPACE",
        ),
        (
            {"ECR_REFRESHER_STATUS_CONFIGMAP": "status", "ECR_REFRESHER_STATUS_NAMESPACE": "E"},
            "ECR_REFRESHER_STATUS_NAMESPACE",
            "namespace name",
        ),
        (
            {"ECR_REFRESHER_CREDENTIALS_CHECK_INTERVAL": "0s"},
            "ECR_REFRESHER_CREDENTIALS_CHECK_INTERVAL",
            "at least 1s",
        ),
    ],
)
def test_config_error_is_one_line_naming_the_variable(
    env: dict[str, str], variable: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--once"], {**BASE, **env})

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith(f"ecr_refresher: config error: {variable}")
    assert reason in err


def test_module_entry_point_prints_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecr_refresher", "--once"],
        cwd=APP_DIR,
        env={"AWS_REGION": "eu-west-1", "ECR_REFRESHER_REFRESH_MARGIN": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "ecr_refresher: config error: ECR_REFRESHER_REFRESH_MARGIN:"
        " 'soon' is not a duration (e.g. 30m, 1h, 90s)"
    ]


def test_valid_config_parses_lists_durations_and_mode() -> None:
    config = load_config(
        {
            "AWS_DEFAULT_REGION": "eu-central-1",
            "ECR_REFRESHER_NAMESPACES": "a, b  c,a",
            "ECR_REFRESHER_SERVICE_ACCOUNTS": "default builder",
            "ECR_REFRESHER_REFRESH_MARGIN": "1h30m",
            "ECR_REFRESHER_PORT": "tcp://10.0.0.1:80",  # a service link: ignored
        }
    )
    assert config.region == "eu-central-1"
    assert config.namespaces == ["a", "b", "c"]
    assert config.service_accounts == ["default", "builder"]
    assert config.refresh_margin == timedelta(hours=1, minutes=30)
    assert config.mode is TargetMode.LIST
    assert not config.watches_namespaces


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"ECR_REFRESHER_NAMESPACE_SELECTOR": "ecr=yes"}, TargetMode.SELECTOR),
        ({"ECR_REFRESHER_ALL_NAMESPACES": "true"}, TargetMode.ALL),
    ],
)
def test_discovering_modes_watch_namespaces(env: dict[str, str], mode: TargetMode) -> None:
    config = load_config({"AWS_REGION": "eu-west-1", **env})
    assert config.mode is mode
    assert config.watches_namespaces
