"""What Berth publishes is what the real Helm SDK accepts: load the index over HTTP, pull, render.

Helm's HTTP getter sends plain unsigned GETs. moto answers them for objects a bucket policy lets
anyone read, so this test bucket (and only it) gets an anonymous-read policy; the real bucket
stays private and is read through s3:// (helm-s3) or the S3 proxy, with the same relative URLs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import yaml

from berth import helm_sdk
from berth.chart_repo.publish import publish_charts
from berth_core.config import Environment
from tests.support.chart_repo import ChartFactory, read_index_text


def _allow_anonymous_reads(s3: Any, bucket: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_helm_loads_the_index_pulls_and_renders_the_published_chart(
    env: Environment,
    make_chart: ChartFactory,
    s3: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    publish_charts(
        env,
        [make_chart("demo", "0.1.0"), make_chart("demo", "0.2.0", greeting="from the repo")],
        out=io.StringIO(),
    )
    _allow_anonymous_reads(s3, bucket)
    repo_url = f"{s3.meta.endpoint_url}/{bucket}"

    index = helm_sdk.fetch_index(repo_url)
    archive = helm_sdk.pull("demo", repo_url, tmp_path / "pulled", version="0.2.0")
    manifests = helm_sdk.render(archive.read_bytes(), release_name="r1")

    versions = [v["version"] for v in index["entries"]["demo"]]
    assert versions == ["0.2.0", "0.1.0"]
    assert archive.name == "demo-0.2.0.tgz"
    assert manifests == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "r1-demo"},
            "data": {"greeting": "from the repo"},
        }
    ]


def test_index_lists_newest_first_and_helm_pulls_the_newest(
    env: Environment,
    make_chart: ChartFactory,
    s3: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    # Published out of order: the index must still list 1.10.0 first (semver, not text).
    for version in ("1.10.0", "1.9.0", "1.2.0"):
        publish_charts(env, [make_chart("demo", version)], out=io.StringIO())
    _allow_anonymous_reads(s3, bucket)

    archive = helm_sdk.pull("demo", f"{s3.meta.endpoint_url}/{bucket}", tmp_path / "pulled")

    # Helm sorts again on load, so the stored order is checked on the raw document.
    stored = yaml.safe_load(read_index_text(s3, bucket))
    assert [v["version"] for v in stored["entries"]["demo"]] == ["1.10.0", "1.9.0", "1.2.0"]
    assert archive.name == "demo-1.10.0.tgz"
