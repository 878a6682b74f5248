"""The refresher's AWS identity: a rotated key file is used at once, and what it used is reported.

Real boto3 credential chains against the session's moto server (IAM access keys, STS web
identity), the fake Kubernetes API for the status ConfigMap, the run loop driven step by step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from ecr_refresher.aws_identity import CredentialsSource
from ecr_refresher.config import load_config
from ecr_refresher.metrics import Metrics
from ecr_refresher.refresher import Refresher
from ecr_refresher.runner import Runner
from kubernetes import client

from berth.local import EMULATOR_CREDENTIALS
from tests.support.constants import REGION
from tests.support.fake_kube_api import FakeKubeApi

STATUS = {
    "ECR_REFRESHER_STATUS_CONFIGMAP": "ecr-credential-refresher-status",
    "ECR_REFRESHER_STATUS_NAMESPACE": "ecr",
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def admin(moto_endpoint: str) -> boto3.Session:
    """The emulator's administrator, with explicit keys (the environment is left to the test)."""
    return boto3.Session(
        region_name=REGION,
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=EMULATOR_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


@pytest.fixture
def bare_environment(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in the pod: no AWS keys in the environment, only the endpoint (moto) and region."""
    for key in (
        *EMULATOR_CREDENTIALS,
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    yield


def _new_key(iam: Any, user: str) -> dict[str, str]:
    key: dict[str, str] = iam.create_access_key(UserName=user)["AccessKey"]
    return key


def _write_credentials(path: Path, key: dict[str, str]) -> None:
    """What the kubelet does with a rotated Secret: a new file swapped in at once."""
    staged = path.with_suffix(".new")
    staged.write_text(
        "[default]\n"
        f"aws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
    )
    staged.replace(path)


def _refresher(
    core_api: client.CoreV1Api, source: CredentialsSource, clock: Clock, **env: str
) -> Refresher:
    config = load_config({"AWS_REGION": REGION, "ECR_REFRESHER_NAMESPACES": "team-a", **env})
    return Refresher(
        config, core_api, source.client(), Metrics(), clock=clock, credentials_source=source
    )


@pytest.mark.usefixtures("bare_environment")
def test_a_rotated_key_file_is_used_at_once_and_its_key_id_reported(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    admin: boto3.Session,
    tmp_path: Path,
) -> None:
    iam = admin.client("iam")
    iam.create_user(UserName="edge-ecr-refresher")
    first = _new_key(iam, "edge-ecr-refresher")
    credentials = tmp_path / "credentials"
    _write_credentials(credentials, first)
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("ecr")
    fake_kube.add_config_map("ecr", STATUS["ECR_REFRESHER_STATUS_CONFIGMAP"])
    clock = Clock()
    source = CredentialsSource(REGION, {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})
    refresher = _refresher(
        core_api, source, clock, ECR_REFRESHER_CREDENTIALS_CHECK_INTERVAL="15s", **STATUS
    )
    runner = Runner(refresher, clock=clock, max_nap_s=0)
    start = clock.now

    runner.step()  # start: the first token, from the first key

    status = fake_kube.config_maps[("ecr", STATUS["ECR_REFRESHER_STATUS_CONFIGMAP"])]["data"]
    assert status["accessKeyId"] == first["AccessKeyId"]
    assert status["credentialSource"] == "shared-credentials-file"
    assert status["tokenFetchedAt"] == start.isoformat()
    assert first["SecretAccessKey"] not in repr(fake_kube.config_maps)
    assert refresher.generation == 1
    assert runner.next_full > start + timedelta(minutes=1)  # the next renewal is far away

    second = _new_key(iam, "edge-ecr-refresher")
    _write_credentials(credentials, second)
    clock.now = start + timedelta(seconds=14)
    runner.step()
    assert refresher.generation == 1  # not looked at before the check interval

    clock.now = start + timedelta(seconds=15)
    runner.step()  # the file changed: a new token now, from the new key, into every namespace

    assert refresher.generation == 2
    assert refresher.written == {"team-a": 2}
    status = fake_kube.config_maps[("ecr", STATUS["ECR_REFRESHER_STATUS_CONFIGMAP"])]["data"]
    assert status["accessKeyId"] == second["AccessKeyId"]
    assert status["tokenFetchedAt"] == clock.now.isoformat()

    clock.now = start + timedelta(seconds=30)
    runner.step()
    assert refresher.generation == 2  # the same file again is no change


@pytest.mark.usefixtures("bare_environment")
def test_a_file_missing_for_a_moment_is_no_change(
    admin: boto3.Session, bare_environment: None, tmp_path: Path
) -> None:
    iam = admin.client("iam")
    iam.create_user(UserName="edge-ecr-builder")
    credentials = tmp_path / "credentials"
    _write_credentials(credentials, _new_key(iam, "edge-ecr-builder"))
    source = CredentialsSource(REGION, {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})
    before = source.identity()

    credentials.unlink()  # the kubelet between removing the old link and adding the new one
    assert source.changed() is False
    _write_credentials(credentials, _new_key(iam, "edge-ecr-builder"))
    assert source.changed() is True
    assert source.changed() is False
    after = source.identity()
    assert before is not None and after is not None
    assert before.access_key_id != after.access_key_id


@pytest.mark.usefixtures("bare_environment")
def test_web_identity_reports_the_assumed_role_session_and_watches_no_file(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    admin: boto3.Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the chart sets with aws.webIdentity.roleArn: a projected token and the role.
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2ln")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/berth-edge-ecr-refresher")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("ecr")
    fake_kube.add_config_map("ecr", STATUS["ECR_REFRESHER_STATUS_CONFIGMAP"])
    clock = Clock()
    source = CredentialsSource(REGION, {})
    refresher = _refresher(core_api, source, clock, **STATUS)
    runner = Runner(refresher, clock=clock, max_nap_s=0)

    runner.step()

    assert ("team-a", "ecr-pull") in fake_kube.secrets
    status = fake_kube.config_maps[("ecr", STATUS["ECR_REFRESHER_STATUS_CONFIGMAP"])]["data"]
    assert status["credentialSource"] == "assume-role-with-web-identity"
    assert status["accessKeyId"].startswith("ASIA")
    assert runner.credentials_check_at is None  # temporary keys renew themselves


@pytest.mark.usefixtures("bare_environment")
def test_a_status_that_cannot_be_written_fails_nothing_else(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    admin: boto3.Session,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    iam = admin.client("iam")
    iam.create_user(UserName="edge-ecr-refresher-2")
    credentials = tmp_path / "credentials"
    _write_credentials(credentials, _new_key(iam, "edge-ecr-refresher-2"))
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("ecr")  # no status ConfigMap: the chart was not installed right
    source = CredentialsSource(REGION, {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})
    refresher = _refresher(core_api, source, Clock(), **STATUS)

    with caplog.at_level(logging.WARNING, logger="ecr_refresher"):
        report = refresher.full_refresh()

    assert report.ok
    assert ("team-a", "ecr-pull") in fake_kube.secrets
    assert ("ecr", STATUS["ECR_REFRESHER_STATUS_CONFIGMAP"]) not in fake_kube.config_maps
    assert any(record.getMessage() == "status not written" for record in caplog.records)
