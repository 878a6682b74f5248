"""`berth refresher rotate-key`: IAM keys on the emulator, the Secret on the fake Kubernetes API.

The end-to-end case runs the real refresher program (`python -m ecr_refresher`, a subprocess
with no AWS key in its environment) against the same emulator and fake API, with a thread that
does the kubelet's part: copying the Secret's `credentials` key into the file the refresher
reads. The other cases stand in for the refresher through the status ConfigMap.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client

from berth.cli import main
from berth.refresher_keys import KeyRotation, NewKey, RotationError, key_in_secret
from berth_core.config import PROJECT_ROOT
from berth_core.naming import CredentialsRelease, ecr_refresher_release
from tests.support.fake_kube_api import FakeKubeApi, serve, write_kubeconfig

NAMESPACE = "ecr-credential-refresher"
RELEASE = ecr_refresher_release("berth-test", NAMESPACE)


@pytest.fixture
def fake_kube() -> FakeKubeApi:
    api = FakeKubeApi()
    api.add_namespace(NAMESPACE)
    api.add_namespace("team-a")
    return api


@pytest.fixture
def kube_url(fake_kube: FakeKubeApi) -> Iterator[str]:
    with serve(fake_kube) as url:
        yield url


@pytest.fixture
def core_v1(kube_url: str) -> client.CoreV1Api:
    configuration = client.Configuration()
    configuration.host = kube_url
    return client.CoreV1Api(client.ApiClient(configuration))


@pytest.fixture
def iam(aws_session: boto3.Session) -> Any:
    iam = aws_session.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=RELEASE.iam_name)
    for key in iam.list_access_keys(UserName=RELEASE.iam_name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=RELEASE.iam_name, AccessKeyId=key["AccessKeyId"])
    return iam


def keys(iam: Any) -> list[str]:
    listed = iam.list_access_keys(UserName=RELEASE.iam_name)["AccessKeyMetadata"]
    return sorted(key["AccessKeyId"] for key in listed)


def key_in_cluster(fake_kube: FakeKubeApi) -> str | None:
    secret = fake_kube.secrets.get((NAMESPACE, RELEASE.credentials_secret))
    return key_in_secret(secret.get("data")) if secret else None


def reported(fake_kube: FakeKubeApi, key_id: str) -> None:
    """What the refresher does once it got a token with `key_id`."""
    fake_kube.config_maps[(NAMESPACE, RELEASE.status_config_map)]["data"] = {"accessKeyId": key_id}


def rotation(
    release: CredentialsRelease, iam: Any, core_v1: client.CoreV1Api, **options: Any
) -> KeyRotation:
    defaults: dict[str, Any] = {
        "login": lambda key: None,
        "timeout_s": 30.0,
        "poll_s": 0.05,
        "say": lambda line: None,
    }
    return KeyRotation(release, iam=iam, core_v1=core_v1, **{**defaults, **options})


def test_the_first_key_goes_straight_into_the_secret(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any
) -> None:
    said: list[str] = []
    result = rotation(RELEASE, iam, core_v1, say=said.append).run()

    assert keys(iam) == [result.new_key_id]
    assert key_in_cluster(fake_kube) == result.new_key_id
    secret = fake_kube.secrets[(NAMESPACE, RELEASE.credentials_secret)]
    assert secret["type"] == "Opaque"
    assert list(secret["data"]) == ["credentials"]
    text = base64.b64decode(secret["data"]["credentials"]).decode()
    assert text.startswith("[default]\naws_access_key_id = ")
    assert "aws_secret_access_key = " in text
    assert result.deleted == [] and result.waited_s is None
    # The secret key is in the Secret and nowhere else: not in what the command says.
    secret_key = text.rsplit("= ", 1)[1].strip()
    assert secret_key not in "\n".join(said)
    assert secret_key not in repr(result)


def test_a_rotation_deletes_the_old_key_only_after_the_refresher_used_the_new_one(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any
) -> None:
    first = rotation(RELEASE, iam, core_v1).run().new_key_id
    fake_kube.add_config_map(NAMESPACE, RELEASE.status_config_map, {"accessKeyId": first})
    seen: list[list[str]] = []

    def refresher_catches_up(_: float) -> None:
        # While the command waits, both keys exist; then the refresher reports the new one.
        seen.append(keys(iam))
        reported(fake_kube, str(key_in_cluster(fake_kube)))

    result = rotation(RELEASE, iam, core_v1, sleep=refresher_catches_up).run()

    assert seen and all(len(found) == 2 for found in seen)
    assert keys(iam) == [result.new_key_id]
    assert result.deleted == [first]
    assert key_in_cluster(fake_kube) == result.new_key_id


def test_a_timeout_keeps_both_keys_and_the_next_run_finishes_first(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any
) -> None:
    first = rotation(RELEASE, iam, core_v1).run().new_key_id
    fake_kube.add_config_map(NAMESPACE, RELEASE.status_config_map, {"accessKeyId": first})

    with pytest.raises(RotationError, match="both keys are kept and the Secret holds the new one"):
        rotation(RELEASE, iam, core_v1, timeout_s=0.2).run()

    second = key_in_cluster(fake_kube)
    assert second != first and keys(iam) == sorted([first, str(second)])

    # The refresher finally uses the second key; the next run deletes the first, then rotates.
    def refresher(_: float) -> None:
        reported(fake_kube, str(key_in_cluster(fake_kube)))

    said: list[str] = []
    result = rotation(RELEASE, iam, core_v1, sleep=refresher, say=said.append).run()
    assert result.finished_earlier == [first]
    assert result.deleted == [second]
    assert keys(iam) == [result.new_key_id]
    assert any("finishing an earlier rotation" in line for line in said)


def test_two_keys_and_neither_in_the_cluster_stop_before_anything_changes(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any
) -> None:
    made = sorted(
        iam.create_access_key(UserName=RELEASE.iam_name)["AccessKey"]["AccessKeyId"]
        for _ in range(2)
    )
    with pytest.raises(RotationError, match=f"has two keys \\({made[0]}, {made[1]}\\)"):
        rotation(RELEASE, iam, core_v1).run()
    assert keys(iam) == made
    assert key_in_cluster(fake_kube) is None


@pytest.mark.parametrize("failure", ["login", "secret"])
def test_a_new_key_that_cannot_be_used_or_stored_is_deleted_again(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any, failure: str
) -> None:
    first = rotation(RELEASE, iam, core_v1).run().new_key_id

    def refused(key: NewKey) -> None:
        raise RotationError(f"the new key {key.access_key_id} gets no registry login: Denied")

    if failure == "secret":
        fake_kube.fail("PUT", rf"/api/v1/namespaces/{NAMESPACE}/secrets/.*", 500)
    options = {"login": refused} if failure == "login" else {}
    with pytest.raises(RotationError, match="the new key was deleted again"):
        rotation(RELEASE, iam, core_v1, **options).run()

    assert keys(iam) == [first]  # nothing changed
    assert key_in_cluster(fake_kube) == first


def test_without_the_release_installed_the_old_key_goes_at_once(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any
) -> None:
    first = rotation(RELEASE, iam, core_v1).run().new_key_id
    said: list[str] = []
    result = rotation(RELEASE, iam, core_v1, say=said.append, timeout_s=0).run()
    assert result.deleted == [first] and result.waited_s is None
    assert any("is not installed" in line for line in said)


def test_the_command_refuses_environments_without_keys_to_rotate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["refresher", "rotate-key", "uat"]) == 1
    assert "uat has no ecr_refresher" in capsys.readouterr().err


# ---- the real refresher, end to end ----


class Kubelet(threading.Thread):
    """Keeps a file equal to a Secret's key, swapped in whole, as the kubelet does."""

    def __init__(self, api: FakeKubeApi, path: Path) -> None:
        super().__init__(daemon=True)
        self.api, self.path, self.stop = api, path, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            secret = self.api.secrets.get((NAMESPACE, RELEASE.credentials_secret))
            if not secret:
                continue
            content = base64.b64decode(secret["data"]["credentials"])
            if not self.path.exists() or self.path.read_bytes() != content:
                staged = self.path.with_suffix(".new")
                staged.write_bytes(content)
                staged.replace(self.path)


def test_the_real_refresher_picks_up_each_rotation_and_the_old_key_is_deleted_after(
    fake_kube: FakeKubeApi, core_v1: client.CoreV1Api, iam: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    kube_url = core_v1.api_client.configuration.host
    first = rotation(RELEASE, iam, core_v1).run().new_key_id
    fake_kube.add_config_map(NAMESPACE, RELEASE.status_config_map)
    credentials = tmp_path / "credentials"
    kubelet = Kubelet(fake_kube, credentials)
    kubelet.start()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "KUBECONFIG", "ECR_REFRESHER_"))
    }
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT / "apps" / "ecr_refresher"),
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": os.devnull,
            "KUBECONFIG": str(write_kubeconfig(kube_url, tmp_path / "kubeconfig")),
            "ECR_REFRESHER_NAMESPACES": f"team-a,{NAMESPACE}",
            "ECR_REFRESHER_STATUS_CONFIGMAP": RELEASE.status_config_map,
            "ECR_REFRESHER_STATUS_NAMESPACE": NAMESPACE,
            "ECR_REFRESHER_CREDENTIALS_CHECK_INTERVAL": "1s",
            "ECR_REFRESHER_METRICS_PORT": "0",
        }
    )
    # Generous: the machines running the suite are shared and often loaded.
    deadline = time.monotonic() + 60
    while not credentials.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    refresher = subprocess.Popen(
        [sys.executable, "-m", "ecr_refresher"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The status may be reported before every namespace's Secret is written: wait for both.
        def first_round_done() -> bool:
            status = fake_kube.config_maps[(NAMESPACE, RELEASE.status_config_map)]
            reported = status.get("data", {}).get("accessKeyId") == first
            return reported and ("team-a", "ecr-pull") in fake_kube.secrets

        while not first_round_done():
            assert refresher.poll() is None, refresher.stderr.read() if refresher.stderr else ""
            assert time.monotonic() < deadline, "the refresher never wrote with its first key"
            time.sleep(0.1)
        written = fake_kube.secrets[("team-a", "ecr-pull")]["metadata"]["resourceVersion"]

        result = rotation(RELEASE, iam, core_v1, timeout_s=30, poll_s=0.2).run()

        assert result.deleted == [first]
        assert keys(iam) == [result.new_key_id]
        status = fake_kube.config_maps[(NAMESPACE, RELEASE.status_config_map)]["data"]
        assert status["accessKeyId"] == result.new_key_id
        assert status["credentialSource"] == "shared-credentials-file"
        # The new key's token went out at once, not at the next renewal hours away.
        assert fake_kube.secrets[("team-a", "ecr-pull")]["metadata"]["resourceVersion"] != written
    finally:
        refresher.terminate()
        refresher.wait(timeout=15)
        kubelet.stop.set()
        kubelet.join(timeout=5)
