"""A repository that `berth charts publish` wrote below a prefix, read by a stock Helm client.

Real everything: charts linted and packaged by the Helm SDK, published with Berth's conditional
writes into `charts/` of a moto bucket, the proxy under gunicorn with TLS and basic auth, and
the Helm SDK's index download and pull. Two ways in, as users add the repository:

- the proxy serving the prefix at `/` (an S3ProxyRelease with `s3.prefix: charts/`);
- the proxy serving the whole bucket and Helm given `https://HOST/charts`: the shape of
  `helm repo add x s3://BUCKET/charts` with helm-s3, where Helm resolves the index's relative
  URLs against the repository URL, so `demo-0.1.0.tgz` is fetched from `.../charts/`.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from s3proxy_harness import ProxyProcess, htpasswd_line

from berth import helm_sdk
from berth.chart_repo.publish import package_chart, publish_packaged
from berth.chart_repo.store import ChartStore
from berth.local import write_loopback_certificate

PREFIX = "charts/"
USER, PASSWORD = "helm", "pr3fixed pass"
CHARTS = {"hello": "1.2.3", "world": "0.1.0"}


def _write_chart(directory: Path, name: str, version: str) -> Path:
    chart = directory / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": name,
                "description": f"The {name} chart",
                "version": version,
                "type": "application",
            }
        )
    )
    (chart / "values.yaml").write_text(f"# -- What the ConfigMap says.\ngreeting: {name}\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-"
        + name
        + "\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, s3_client: Any) -> str:
    """A new bucket holding a repository below `charts/`, published by Berth."""
    bucket = f"prefixed-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    work = tmp_path_factory.mktemp("prefixed-repo")
    packaged = [
        package_chart(_write_chart(work / "src", name, version), work / name, out=io.StringIO())
        for name, version in CHARTS.items()
    ]
    summary = publish_packaged(ChartStore(s3_client, bucket, PREFIX), packaged, out=io.StringIO())
    assert summary.uploaded == [f"{name} {version}" for name, version in CHARTS.items()]
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["charts/hello-1.2.3.tgz", "charts/index.yaml", "charts/world-0.1.0.tgz"]
    return bucket


def _proxy(
    start_proxy: Callable[..., ProxyProcess],
    tmp_path_factory: pytest.TempPathFactory,
    moto_endpoint: str,
    bucket: str,
    prefix: str,
) -> ProxyProcess:
    work = tmp_path_factory.mktemp("prefixed-proxy")
    htpasswd = work / "htpasswd"
    htpasswd.write_text(htpasswd_line(USER, PASSWORD) + "\n")
    cert, key = write_loopback_certificate(work)
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "S3_BUCKET": bucket,
            "S3PROXY_PREFIX": prefix,
            "S3PROXY_INDEX_DOCUMENT": "index.yaml",
            "S3PROXY_HTPASSWD_FILE": str(htpasswd),
            "S3PROXY_TLS_CERT_FILE": str(cert),
            "S3PROXY_TLS_KEY_FILE": str(key),
        },
        tls=True,
    )


@pytest.fixture(scope="module")
def prefix_proxy(
    start_proxy: Callable[..., ProxyProcess],
    tmp_path_factory: pytest.TempPathFactory,
    moto_endpoint: str,
    published: str,
) -> ProxyProcess:
    return _proxy(start_proxy, tmp_path_factory, moto_endpoint, published, PREFIX)


@pytest.fixture(scope="module")
def bucket_proxy(
    start_proxy: Callable[..., ProxyProcess],
    tmp_path_factory: pytest.TempPathFactory,
    moto_endpoint: str,
    published: str,
) -> ProxyProcess:
    return _proxy(start_proxy, tmp_path_factory, moto_endpoint, published, "")


def _pull_and_render(repo_url: str, destination: Path) -> None:
    credentials = {"username": USER, "password": PASSWORD, "insecure_skip_tls_verify": True}
    index = helm_sdk.fetch_index(repo_url, **credentials)
    assert {name: entries[0]["version"] for name, entries in index["entries"].items()} == CHARTS
    for name, version in CHARTS.items():
        archive = helm_sdk.pull(name, repo_url, destination, version=version, **credentials)
        assert archive.name == f"{name}-{version}.tgz"
        (manifest,) = helm_sdk.render(archive.read_bytes(), release_name="demo")
        assert manifest["metadata"]["name"] == f"demo-{name}"
        assert manifest["data"] == {"greeting": name}


def test_helm_reads_the_prefixed_repository_at_the_proxys_root(
    prefix_proxy: ProxyProcess, tmp_path: Path
) -> None:
    _pull_and_render(prefix_proxy.base_url + "/", tmp_path)


def test_helm_reads_the_repository_by_its_path_as_helm_s3_users_add_it(
    bucket_proxy: ProxyProcess, tmp_path: Path
) -> None:
    # `helm repo add x s3://BUCKET/charts`: the repository URL carries the prefix, the index
    # names archives relative to it.
    _pull_and_render(bucket_proxy.base_url + "/charts", tmp_path)


def test_nothing_outside_the_prefix_is_a_chart(prefix_proxy: ProxyProcess) -> None:
    reply = prefix_proxy.request("/charts/index.yaml", auth=(USER, PASSWORD))
    assert reply.status == 404
