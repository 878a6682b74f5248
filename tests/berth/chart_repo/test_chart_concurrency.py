"""16 publishers (or promoters) in 16 processes, released together by a barrier, into one
repository.

With the conditional index write every version ends up in index.yaml. The control run drops
the precondition (what `helm repo index --merge` + `aws s3 cp` and helm-s3 do) and shows that
the same race then loses charts, so the first run cannot pass by luck of timing. Promotion
(`berth charts promote`) is raced the same way, from one prefixed repository into another, and
several promoters of the one same version must leave exactly one archive and one entry.

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
from typing import Any

import boto3
import pytest

from berth.chart_repo.index import parse_index
from berth.chart_repo.publish import PackagedChart, package_chart, publish_packaged
from berth.chart_repo.store import ChartStore
from berth.local import EMULATOR_CREDENTIALS, MotoServer, free_loopback_port
from tests.support.chart_repo import (
    PromoteTask,
    RaceTask,
    promote_in_race,
    publish_in_race,
    write_chart,
)

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
    context.set_forkserver_preload(
        ["boto3", "berth.chart_repo.publish", "tests.support.chart_repo"]
    )
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


# ---- promotion ----


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _new_bucket(client: Any, stem: str) -> str:
    bucket = f"{stem}-{uuid.uuid4().hex[:16]}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


@pytest.fixture(scope="module")
def central_repository(serial_moto: str, packaged_versions: list[PackagedChart]) -> str:
    """The source: every version published once (serially) below charts/."""
    client = _client(serial_moto)
    bucket = _new_bucket(client, "central")
    publish_packaged(ChartStore(client, bucket, "charts/"), packaged_versions, out=io.StringIO())
    return bucket


def _promote_race(
    endpoint: str, source: str, versions: list[str], *, conditional: bool
) -> tuple[str, list[tuple[str, bool, int]]]:
    """Promote each of `versions` in its own process into a new bucket; returns the bucket
    and each promoter's (label, uploaded, retries)."""
    target = _new_bucket(_client(endpoint), "promoted")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["boto3", "berth.chart_repo.promote", "tests.support.chart_repo"]
    )
    barrier, results = context.Barrier(len(versions)), context.Queue()
    workers = [
        context.Process(
            target=promote_in_race,
            args=(
                PromoteTask(
                    endpoint,
                    source,
                    target,
                    "race",
                    version,
                    conditional,
                    target_prefix="stable/charts/",
                ),
                barrier,
                results,
            ),
        )
        for version in versions
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    return target, reports


def _indexed(endpoint: str, bucket: str) -> list[dict[str, Any]]:
    body = _client(endpoint).get_object(Bucket=bucket, Key="stable/charts/index.yaml")["Body"]
    return list(parse_index(body.read()).all_entries())


def test_sixteen_concurrent_promoters_lose_nothing(
    serial_moto: str, central_repository: str, packaged_versions: list[PackagedChart]
) -> None:
    versions = [c.version for c in packaged_versions]
    target, reports = _promote_race(serial_moto, central_repository, versions, conditional=True)

    entries = _indexed(serial_moto, target)
    assert {e["version"] for e in entries} == set(versions)
    assert all(uploaded for _, uploaded, _ in reports)
    assert sum(retries for _, _, retries in reports) > 0  # they really did collide
    # Each entry is the source's, digest and all, pointing at the archive beside the index.
    digests = {c.version: c.digest for c in packaged_versions}
    assert all(e["digest"] == digests[e["version"]] for e in entries)
    assert all(e["urls"] == [f"race-{e['version']}.tgz"] for e in entries)


def test_control_promotion_without_preconditions_loses_charts(
    serial_moto: str, central_repository: str, packaged_versions: list[PackagedChart]
) -> None:
    versions = [c.version for c in packaged_versions]
    target, _ = _promote_race(serial_moto, central_repository, versions, conditional=False)

    assert len(_indexed(serial_moto, target)) < len(versions)


def test_promoters_of_the_same_version_leave_one_archive_and_one_entry(
    serial_moto: str, central_repository: str, packaged_versions: list[PackagedChart]
) -> None:
    version = packaged_versions[0].version
    target, reports = _promote_race(
        serial_moto, central_repository, [version] * 6, conditional=True
    )

    assert [e["version"] for e in _indexed(serial_moto, target)] == [version]
    # One upload won (If-None-Match: *); the others found the very same bytes there.
    assert sorted(uploaded for _, uploaded, _ in reports) == [False] * 5 + [True]
    listed = _client(serial_moto).list_object_versions(
        Bucket=target, Prefix=f"stable/charts/race-{version}.tgz"
    )
    assert len(listed["Versions"]) == 1
