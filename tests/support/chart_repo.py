"""Helpers shared by the chart repository tests (a module, so spawned workers can import it)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from berth.chart_repo.promote import promote_between
from berth.chart_repo.publish import PackagedChart, publish_packaged
from berth.chart_repo.store import ChartStore, RetryPolicy

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
