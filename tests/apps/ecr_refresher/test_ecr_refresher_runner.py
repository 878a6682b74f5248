"""The run loop's schedule, driven step by step with a hand-held clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config as BotoConfig
from ecr_refresher.refresher import Refresher
from ecr_refresher.runner import Runner
from ecr_refresher.schedule import MIN_REFRESH_INTERVAL

from berth.local import free_loopback_port
from tests.support.fake_kube_api import FakeKubeApi


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_refreshes_at_start_then_when_due_and_retries_failed_namespaces_sooner(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("team-b")
    fake_kube.fail("POST", r"/api/v1/namespaces/team-b/secrets", 500, times=3)
    clock = Clock()
    refresher = make_refresher(
        ECR_REFRESHER_NAMESPACES="team-a,team-b", ECR_REFRESHER_RETRY_INTERVAL="30s"
    )
    runner = Runner(refresher, clock=clock, max_nap_s=0)
    start = clock.now

    runner.step()  # start: full refresh; team-b fails all 3 attempts

    assert refresher.generation == 1
    assert refresher.failed == {"team-b"}
    assert runner.health.ready.is_set()
    # moto's token is long expired, so the floor applies instead of expiresAt - margin.
    assert runner.next_full == start + MIN_REFRESH_INTERVAL
    assert runner.retry_at == start + timedelta(seconds=30)

    clock.now = start + timedelta(seconds=29)
    runner.step()
    assert refresher.failed == {"team-b"}  # not yet due

    clock.now = start + timedelta(seconds=30)
    runner.step()  # retry pass for the failed namespace only, same token
    assert refresher.failed == set()
    assert refresher.generation == 1
    assert runner.retry_at is None
    assert ("team-b", "ecr-pull") in fake_kube.secrets

    clock.now = runner.next_full
    runner.step()
    assert refresher.generation == 2  # a new token at the scheduled time


def test_token_fetch_failure_keeps_secrets_and_backs_off(
    fake_kube: FakeKubeApi,
    kube_url: str,
    make_refresher: Callable[..., Refresher],
    aws_session: boto3.Session,
) -> None:
    fake_kube.add_namespace("team-a")
    clock = Clock()
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")
    runner = Runner(refresher, clock=clock, max_nap_s=0)
    runner.step()
    written = dict(fake_kube.secrets[("team-a", "ecr-pull")])

    # ECR unreachable: a real botocore client aimed at a closed loopback port.
    refresher.ecr_client = aws_session.client(
        "ecr",
        endpoint_url=f"http://127.0.0.1:{free_loopback_port()}",
        config=BotoConfig(retries={"max_attempts": 1}, connect_timeout=2),
    )
    clock.now = runner.next_full
    runner.step()

    assert runner.token_failures == 1
    assert runner.next_full == clock.now + timedelta(seconds=10)
    assert fake_kube.secrets[("team-a", "ecr-pull")]["data"] == written["data"]
    token_failures = refresher.metrics.registry.get_sample_value(
        "ecr_refresher_token_fetch_failures_total"
    )
    assert token_failures == 1
