"""New namespaces get the secret at once: watcher + run loop against the fake API's watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from ecr_refresher.refresher import Refresher
from ecr_refresher.runner import Runner
from ecr_refresher.watcher import NamespaceWatcher
from kubernetes import client

from tests.support.fake_kube_api import FakeKubeApi


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll until `condition` holds (the watch delivers events asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def start(runner: Runner, core_api: client.CoreV1Api, selector: str | None) -> NamespaceWatcher:
    watcher = NamespaceWatcher(
        core_api,
        selector,
        runner.namespace_added,
        runner.namespace_deleted,
        runner.stop,
        timeout_seconds=1,  # short server-side timeouts exercise reconnects too
        backoff_base=timedelta(milliseconds=10),
    )
    watcher.start()
    threading.Thread(target=runner.run_forever, daemon=True).start()
    return watcher


def test_new_labelled_namespace_is_refreshed_without_waiting_for_next_run(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    make_refresher: Callable[..., Refresher],
    stop: threading.Event,
) -> None:
    fake_kube.add_namespace("team-a", {"ecr": "yes"})
    fake_kube.add_namespace("other")
    refresher = make_refresher(ECR_REFRESHER_NAMESPACE_SELECTOR="ecr=yes")
    runner = Runner(refresher, stop=stop)
    start(runner, core_api, "ecr=yes")
    assert wait_for(lambda: ("team-a", "ecr-pull") in fake_kube.secrets)
    token_calls = refresher.generation

    fake_kube.add_namespace("team-b", {"ecr": "yes"})
    fake_kube.add_namespace("not-selected")
    fake_kube.label_namespace("other", {"ecr": "yes"})

    assert wait_for(lambda: ("team-b", "ecr-pull") in fake_kube.secrets)
    assert wait_for(lambda: ("other", "ecr-pull") in fake_kube.secrets)
    assert ("not-selected", "ecr-pull") not in fake_kube.secrets
    # Served from the token already held: no extra ECR call, no full refresh.
    assert refresher.generation == token_calls
    assert runner.health.ready.is_set()


def test_watch_relists_after_410_gone_and_catches_namespaces_created_meanwhile(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    make_refresher: Callable[..., Refresher],
    stop: threading.Event,
) -> None:
    fake_kube.add_namespace("team-a")
    refresher = make_refresher(ECR_REFRESHER_ALL_NAMESPACES="true")
    runner = Runner(refresher, stop=stop)
    watcher = start(runner, core_api, None)
    assert wait_for(lambda: ("team-a", "ecr-pull") in fake_kube.secrets)
    assert wait_for(lambda: fake_kube.watch_requests >= 1)

    fake_kube.add_namespace("team-b", event=False)  # its event was compacted away
    fake_kube.expire_history()  # the next watch gets 410 Gone; only a relist finds team-b

    assert wait_for(lambda: ("team-b", "ecr-pull") in fake_kube.secrets)
    assert watcher.relists >= 2


def test_watch_reconnects_after_server_errors(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    make_refresher: Callable[..., Refresher],
    stop: threading.Event,
) -> None:
    fake_kube.fail("GET", r"/api/v1/namespaces", 500, times=3)  # list and watch both fail
    refresher = make_refresher(ECR_REFRESHER_ALL_NAMESPACES="true")
    runner = Runner(refresher, stop=stop)
    start(runner, core_api, None)

    fake_kube.add_namespace("late")

    assert wait_for(lambda: ("late", "ecr-pull") in fake_kube.secrets)


def test_deleted_namespace_is_forgotten(
    fake_kube: FakeKubeApi,
    core_api: client.CoreV1Api,
    make_refresher: Callable[..., Refresher],
    stop: threading.Event,
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("gone")
    refresher = make_refresher(ECR_REFRESHER_ALL_NAMESPACES="true")
    runner = Runner(refresher, stop=stop)
    start(runner, core_api, None)
    assert wait_for(lambda: "gone" in refresher.written)

    fake_kube.delete_namespace("gone")

    assert wait_for(lambda: "gone" not in refresher.written)
    exposed = refresher.metrics.registry.get_sample_value(
        "ecr_refresher_last_success_timestamp_seconds", {"namespace": "gone"}
    )
    assert exposed is None
