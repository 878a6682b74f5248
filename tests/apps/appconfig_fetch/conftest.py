"""Fixtures for the AppConfig fetcher: a real local AppConfigData server and a pointing env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from appconfigdata_fake import CANARY, PROFILE_KEY, FakeAppConfigData, running_fake

from berth.local import EMULATOR_CREDENTIALS


@pytest.fixture
def appconfigdata() -> Iterator[FakeAppConfigData]:
    """A fresh fake AppConfigData on loopback, with the Coralogix key deployed as version 1."""
    for fake in running_fake():
        fake.deploy(PROFILE_KEY, CANARY.encode(), version="1")
        yield fake


@pytest.fixture
def fetch_env(
    appconfigdata: FakeAppConfigData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment of a fetcher pointed at the fake (also applied to os.environ for boto3)."""
    output_dir = tmp_path / "secrets"
    output_dir.mkdir()
    env = {
        **EMULATOR_CREDENTIALS,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        # The service-specific variable wins over the generic one, which points nowhere useful.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_APPCONFIGDATA": appconfigdata.endpoint_url,
        "AWS_REGION": "eu-west-1",
        "APPCONFIG_APPLICATION": PROFILE_KEY[0],
        "APPCONFIG_ENVIRONMENT": PROFILE_KEY[1],
        "APPCONFIG_PROFILE": PROFILE_KEY[2],
        "APPCONFIG_FETCH_OUTPUT": str(output_dir / "private-key"),
        "APPCONFIG_POLL_INTERVAL_SECONDS": "15",
    }
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
