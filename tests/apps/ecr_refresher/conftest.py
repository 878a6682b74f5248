"""Fixtures: a fake Kubernetes API server on loopback, the real kubernetes client, moto's ECR."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from ecr_refresher.config import load_config
from ecr_refresher.metrics import Metrics
from ecr_refresher.refresher import Refresher, RetryPolicy
from kubernetes import client

from tests.support.fake_kube_api import FakeKubeApi, serve


@pytest.fixture
def fake_kube() -> FakeKubeApi:
    """API state; tests seed it before or while the server runs."""
    return FakeKubeApi()


@pytest.fixture
def kube_url(fake_kube: FakeKubeApi) -> Iterator[str]:
    """The fake API server, running on a free loopback port."""
    with serve(fake_kube) as url:
        yield url


@pytest.fixture
def kube_configuration(kube_url: str) -> client.Configuration:
    """What a test passes instead of in-cluster config or a kubeconfig."""
    configuration = client.Configuration()
    configuration.host = kube_url
    return configuration


@pytest.fixture
def core_api(kube_configuration: client.Configuration) -> client.CoreV1Api:
    return client.CoreV1Api(client.ApiClient(kube_configuration))


@pytest.fixture
def ecr(aws_session: boto3.Session) -> Any:
    """A real ECR client talking to the session's moto server."""
    return aws_session.client("ecr")


# Retries in tests wait milliseconds, not seconds.
FAST_RETRY = RetryPolicy(attempts=3, base=timedelta(milliseconds=5), cap=timedelta(milliseconds=20))


@pytest.fixture
def make_refresher(core_api: client.CoreV1Api, ecr: Any) -> Callable[..., Refresher]:
    """Build a Refresher from environment-style settings (AWS_REGION preset)."""

    def build(**env: str) -> Refresher:
        config = load_config({"AWS_REGION": "eu-west-1", **env})
        return Refresher(config, core_api, ecr, Metrics(), retry=FAST_RETRY)

    return build
