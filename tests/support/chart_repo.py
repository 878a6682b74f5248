"""The chart repository tests' helpers and fixtures (a module, so spawned workers can import it).

The fixtures give a fresh bucket per test on the session moto server, an environment file
pointing at it, and small real charts to lint, package and publish. A conftest makes them reach
its folder's tests by importing them (tests/berth/chart_repo and tests/berth/commands).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from berth.chart_repo.promote import promote_between
from berth.chart_repo.publish import PackagedChart, publish_packaged
from berth.chart_repo.store import ChartStore, RetryPolicy
from berth_core.config import Environment, load_environment_file

ChartFactory = Callable[..., Path]


def write_chart(root: Path, name: str, version: str, *, greeting: str = "hello") -> Path:
    """A minimal valid chart (one ConfigMap) at root/name-version/name."""
    chart = root / f"{name}-{version}-{uuid.uuid4().hex[:6]}" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": name,
                "description": f"The {name} test chart",
                "type": "application",
                "version": version,
                "appVersion": "1.0.0",
            }
        )
    )
    (chart / "values.yaml").write_text(f"# -- What the ConfigMap says.\ngreeting: {greeting}\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-"
        + name
        + "\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


def object_keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def read_index_text(s3: Any, bucket: str) -> str:
    return str(s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read().decode())


class UnconditionalIndexStore(ChartStore):
    """The control: read-modify-write of index.yaml without If-Match / If-None-Match."""

    def _put_index(self, body: bytes, condition: dict[str, str]) -> Any:
        return super()._put_index(body, {})


@dataclass(frozen=True)
class RaceTask:
    """What one racing publisher process publishes, and where."""

    endpoint: str
    bucket: str
    chart: PackagedChart
    conditional: bool


def publish_in_race(task: RaceTask, barrier: Any, results: Any) -> None:
    """One publisher process: wait for the others, then publish one packaged chart."""
    endpoint, bucket, chart, conditional = task.endpoint, task.bucket, task.chart, task.conditional
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    store_class = ChartStore if conditional else UnconditionalIndexStore
    store = store_class(client, bucket)
    barrier.wait(timeout=60)
    # Many short retries: 16 writers contend, and a long backoff only slows the test.
    policy = RetryPolicy(max_attempts=40, base_delay_s=0.02, max_delay_s=0.5)
    summary = publish_packaged(store, [chart], out=io.StringIO(), policy=policy)
    results.put((chart.label, summary.uploaded, summary.index_retries))


@dataclass(frozen=True)
class PromoteTask:
    """What one racing promoter process promotes, from where to where."""

    endpoint: str
    source_bucket: str
    target_bucket: str
    name: str
    version: str
    conditional: bool
    source_prefix: str = "charts/"
    target_prefix: str = "charts/"


def promote_in_race(task: PromoteTask, barrier: Any, results: Any) -> None:
    """One promoter process: wait for the others, then promote one chart version."""
    client = boto3.client(
        "s3",
        endpoint_url=task.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    target_class = ChartStore if task.conditional else UnconditionalIndexStore
    source = ChartStore(client, task.source_bucket, task.source_prefix)
    target = target_class(client, task.target_bucket, task.target_prefix)
    barrier.wait(timeout=60)
    policy = RetryPolicy(max_attempts=40, base_delay_s=0.02, max_delay_s=0.5)
    summary = promote_between(
        source, target, task.name, task.version, out=io.StringIO(), policy=policy
    )
    results.put((summary.label, summary.uploaded, summary.index_retries))


class RequestLog:
    """Every HTTP request a boto3 client sends (botocore `before-send` event): (method, path)."""

    def __init__(self, client: Any) -> None:
        self.requests: list[tuple[str, str]] = []
        client.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        path = request.url.split("?", 1)[0].split("/", 4)[-1]
        self.requests.append((request.method, path))

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    def paths(self, method: str) -> list[str]:
        return [p for m, p in self.requests if m == method]

    def clear(self) -> None:
        self.requests.clear()


# Fixtures


@pytest.fixture
def make_chart(tmp_path: Path) -> ChartFactory:
    def factory(name: str = "demo", version: str = "0.1.0", **kwargs: Any) -> Path:
        return write_chart(tmp_path / "charts", name, version, **kwargs)

    return factory


@pytest.fixture(scope="session")
def _shared_boto_session() -> boto3.Session:
    # Loading the S3 model costs ~0.5 s per boto3.Session; clients of one session cost ~15 ms.
    return boto3.Session(
        region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def s3(aws_session: boto3.Session, _shared_boto_session: boto3.Session, moto_endpoint: str) -> Any:
    """An S3 client on the session moto server (aws_session also points env vars at moto)."""
    return _shared_boto_session.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, versioned bucket (as HelmRepoBucket makes them) with a unique name."""
    name = f"charts-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def env_file(tmp_path: Path, bucket: str) -> Path:
    """An emulator environment file whose Helm repo bucket is this test's bucket."""
    path = tmp_path / "envs" / "citest.yaml"
    path.parent.mkdir()
    path.write_text(
        yaml.safe_dump(
            {
                "account_id": "123456789012",
                "region": "eu-west-1",
                "name_prefix": "berth-citest",
                "emulator": True,
                "helm_repo": {
                    "publisher_principals": ["arn:aws:iam::123456789012:role/publisher"],
                    "bucket_name": bucket,
                },
            }
        )
    )
    return path


@pytest.fixture
def env(env_file: Path) -> Environment:
    return load_environment_file(env_file)


@pytest.fixture
def store(s3: Any, bucket: str) -> ChartStore:
    return ChartStore(s3, bucket)


@pytest.fixture
def out() -> io.StringIO:
    """Where progress goes; tests read it back."""
    return io.StringIO()
