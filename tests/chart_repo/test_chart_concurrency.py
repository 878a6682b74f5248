"""16 publishers in 16 processes, released together by a barrier, into one repository.

With the conditional index write every version ends up in index.yaml. The control run drops
the precondition (what `helm repo index --merge` + `aws s3 cp` and helm-s3 do) and shows that
the same race then loses charts, so the first run cannot pass by luck of timing.

moto's threaded server checks a write precondition and then stores the object without a lock,
so two racing conditional writes can both pass the check there (real S3 decides atomically).
These tests therefore run against a moto server that handles one request at a time: each
conditional write is atomic, as on S3, while a read-modify-write still spans several requests
and races exactly as in production.
"""

from __future__ import annotations

import io
import multiprocessing
import subprocess
import sys
import uuid
from collections.abc import Iterator

import boto3
import pytest
from chart_repo_support import RaceTask, publish_in_race, write_chart

from berth.chart_repo.index import parse_index
from berth.chart_repo.publish import PackagedChart, package_chart
from berth.local import EMULATOR_CREDENTIALS, MotoServer, free_loopback_port

PUBLISHERS = 16
# One request at a time: S3's atomic conditional write, without moto's check-then-write race.
SERIAL_MOTO = (
    "import sys; from werkzeug.serving import run_simple;"
    " from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app;"
    " run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app),"
    " threaded=False)"
)


class SerialMotoServer(MotoServer):
    """A moto server that serves one request at a time."""

    def start(self) -> SerialMotoServer:
        self.port = self.port or free_loopback_port()
        self._process = subprocess.Popen(
            [sys.executable, "-c", SERIAL_MOTO, "127.0.0.1", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**EMULATOR_CREDENTIALS, "PATH": "/usr/bin:/bin"},
        )
        self._wait_until_ready()
        return self


@pytest.fixture(scope="module")
def serial_moto() -> Iterator[str]:
    with SerialMotoServer() as server:
        yield server.endpoint_url


@pytest.fixture(scope="module")
def packaged_versions(tmp_path_factory: pytest.TempPathFactory) -> list[PackagedChart]:
    root = tmp_path_factory.mktemp("concurrent")
    return [
        package_chart(write_chart(root, "race", f"1.{n}.0"), root / f"out{n}", out=io.StringIO())
        for n in range(PUBLISHERS)
    ]


def _race(endpoint: str, charts: list[PackagedChart], *, conditional: bool) -> tuple[set[str], int]:
    """Run the publishers; returns the versions left in index.yaml and the total retries."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"race-{uuid.uuid4().hex[:16]}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    # Not fork: this process may hold the Helm SDK's Go runtime, which does not survive a fork.
    # A fork server with the modules preloaded starts 16 clean workers in well under a second.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["boto3", "berth.chart_repo.publish", "chart_repo_support"])
    barrier, results = context.Barrier(len(charts)), context.Queue()
    workers = [
        context.Process(
            target=publish_in_race,
            args=(RaceTask(endpoint, bucket, chart, conditional), barrier, results),
        )
        for chart in charts
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    assert all(uploaded == [label] for label, uploaded, _ in reports)
    body = client.get_object(Bucket=bucket, Key="index.yaml")["Body"].read()
    versions = {e["version"] for e in parse_index(body).all_entries()}
    return versions, sum(retries for _, _, retries in reports)


def test_sixteen_concurrent_publishers_lose_nothing(
    serial_moto: str, packaged_versions: list[PackagedChart]
) -> None:
    versions, retries = _race(serial_moto, packaged_versions, conditional=True)

    assert versions == {c.version for c in packaged_versions}
    assert retries > 0  # they really did collide


def test_control_without_preconditions_loses_charts(
    serial_moto: str, packaged_versions: list[PackagedChart]
) -> None:
    versions, _ = _race(serial_moto, packaged_versions, conditional=False)

    assert len(versions) < len(packaged_versions)
