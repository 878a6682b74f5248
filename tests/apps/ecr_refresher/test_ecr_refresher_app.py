"""The whole program: `main` with real moto ECR, the fake API server and its HTTP endpoints."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import boto3
import pytest
from ecr_refresher.app import main
from ecr_refresher.refresher import Refresher
from ecr_refresher.runner import Runner
from ecr_refresher.server import Health
from kubernetes import client

from berth.local import free_loopback_port
from tests.support.fake_kube_api import FakeKubeApi

TOKEN_PASSWORD = "123456789012-auth-token"  # what moto hands out
HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_once_exits_zero_when_every_namespace_is_written(
    fake_kube: FakeKubeApi,
    kube_configuration: client.Configuration,
    aws_session: boto3.Session,
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("team-b")
    env = {"AWS_REGION": "eu-west-1", "ECR_REFRESHER_NAMESPACES": "team-a,team-b"}

    assert main(["--once"], env, kube_configuration=kube_configuration) == 0
    assert {("team-a", "ecr-pull"), ("team-b", "ecr-pull")} <= set(fake_kube.secrets)


def test_once_exits_non_zero_when_a_namespace_failed(
    fake_kube: FakeKubeApi,
    kube_configuration: client.Configuration,
    aws_session: boto3.Session,
) -> None:
    fake_kube.add_namespace("team-a")  # "missing" does not exist: 404 on every attempt
    env = {
        "AWS_REGION": "eu-west-1",
        "ECR_REFRESHER_NAMESPACES": "team-a,missing",
        "ECR_REFRESHER_ATTEMPTS": "1",
    }

    assert main(["--once"], env, kube_configuration=kube_configuration) == 1
    assert ("team-a", "ecr-pull") in fake_kube.secrets


def test_serves_health_readiness_and_metrics_and_logs_json_without_the_token(
    fake_kube: FakeKubeApi,
    kube_configuration: client.Configuration,
    aws_session: boto3.Session,
    capfd: pytest.CaptureFixture[str],
) -> None:
    fake_kube.add_namespace("team-a", {"ecr": "yes"})
    port = free_loopback_port()
    env = {
        "AWS_REGION": "eu-west-1",
        "ECR_REFRESHER_NAMESPACE_SELECTOR": "ecr=yes",
        "ECR_REFRESHER_METRICS_PORT": str(port),
    }
    stop = threading.Event()
    exit_codes: list[int] = []
    thread = threading.Thread(
        target=lambda: exit_codes.append(
            main([], env, kube_configuration=kube_configuration, stop=stop)
        ),
        daemon=True,
    )
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(0.05)
        assert get(f"{base}/readyz") == (200, "ready\n")
        assert get(f"{base}/healthz") == (200, "ok\n")
        assert get(f"{base}/nope")[0] == 404
        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert 'ecr_refresher_last_success_timestamp_seconds{namespace="team-a"}' in metrics
        # moto's tokens expire on 2015-01-01T00:00:00Z.
        assert (
            f'ecr_refresher_token_expiry_timestamp_seconds{{registry="{HOST}"}} 1.4200704e+09'
            in metrics
        )
        assert (
            'ecr_refresher_secret_expiry_timestamp_seconds{namespace="team-a"} 1.4200704e+09'
            in (metrics)
        )
        assert "ecr_refresher_refresh_duration_seconds_count 1.0" in metrics
    finally:
        stop.set()
        thread.join(timeout=15)
    assert exit_codes == [0]

    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = {line["message"] for line in lines}
    assert {"token fetched", "pull secret written", "refresh pass done"} <= messages
    assert TOKEN_PASSWORD not in err


def test_metrics_count_failures_per_namespace_and_failing_gauge(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("team-b")
    fake_kube.fail("POST", r"/api/v1/namespaces/team-b/secrets", 500, times=3)
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a,team-b")
    registry = refresher.metrics.registry

    refresher.full_refresh()

    def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
        return registry.get_sample_value(name, labels or {})

    assert sample("ecr_refresher_namespace_failures_total", {"namespace": "team-b"}) == 1
    assert sample("ecr_refresher_namespace_failures_total", {"namespace": "team-a"}) is None
    assert sample("ecr_refresher_namespaces_failing") == 1
    assert sample("ecr_refresher_last_success_timestamp_seconds", {"namespace": "team-b"}) is None
    assert sample("ecr_refresher_last_success_timestamp_seconds", {"namespace": "team-a"}) > (
        time.time() - 60
    )

    refresher.refresh(["team-b"])  # the fault is used up: the retry pass heals it

    assert sample("ecr_refresher_namespaces_failing") == 0
    assert sample("ecr_refresher_namespace_failures_total", {"namespace": "team-b"}) == 1
    assert sample("ecr_refresher_refresh_duration_seconds_count") == 2


def test_liveness_follows_progress_of_a_long_refresh_pass(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")
    health = Health(stale_after_s=0.2)
    Runner(refresher, health)
    refresher.fetch_token()
    time.sleep(0.3)
    assert not health.alive()  # nothing happened for longer than stale_after_s

    refresher.refresh(["team-a"])  # each namespace written is a sign of life

    assert health.alive()
