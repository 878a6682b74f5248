"""The proxy turns a private bucket into an HTTPS Helm repository that a stock Helm client reads.

Real everything: a chart packaged by the Helm SDK, an index with relative URLs, a moto bucket,
the proxy under gunicorn serving TLS with a certificate made here, and the Helm SDK's pull.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from s3proxy_harness import ProxyProcess, htpasswd_line

from berth import helm_sdk
from berth.local import write_loopback_certificate

CHART_NAME = "hello"
CHART_VERSION = "1.2.3"


def _write_chart(directory: Path) -> Path:
    chart = directory / CHART_NAME
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": CHART_NAME,
                "version": CHART_VERSION,
                "type": "application",
            }
        )
    )
    (chart / "values.yaml").write_text("greeting: hello from the bucket\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hello\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


@pytest.fixture(scope="module")
def helm_repo_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    start_proxy: Callable[..., ProxyProcess],
    s3_client: Any,
    bucket: str,
    moto_endpoint: str,
) -> ProxyProcess:
    work = tmp_path_factory.mktemp("helm-repo")
    repo_dir = work / "repo"
    archive = helm_sdk.package(_write_chart(work / "src"), repo_dir)
    index = helm_python.repo_index_generate(str(repo_dir))  # no base_url: relative URLs
    assert index["entries"][CHART_NAME][0]["urls"] == [archive.name]
    for path in (archive, repo_dir / "index.yaml"):
        s3_client.put_object(Bucket=bucket, Key=f"charts/{path.name}", Body=path.read_bytes())
    htpasswd = work / "htpasswd"
    htpasswd.write_text(htpasswd_line("helm", "s3cr3t pass") + "\n")
    cert, key = write_loopback_certificate(work)
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "S3_BUCKET": bucket,
            "S3PROXY_PREFIX": "charts",
            "S3PROXY_INDEX_DOCUMENT": "index.yaml",
            "S3PROXY_HTPASSWD_FILE": str(htpasswd),
            "S3PROXY_TLS_CERT_FILE": str(cert),
            "S3PROXY_TLS_KEY_FILE": str(key),
        },
        tls=True,
    )


def test_helm_pulls_and_renders_a_chart_through_the_proxy(
    helm_repo_proxy: ProxyProcess, tmp_path: Path
) -> None:
    archive = helm_sdk.pull(
        CHART_NAME,
        helm_repo_proxy.base_url + "/",
        tmp_path,
        version=CHART_VERSION,
        username="helm",
        password="s3cr3t pass",
        insecure_skip_tls_verify=True,
    )
    assert archive.name == f"{CHART_NAME}-{CHART_VERSION}.tgz"
    manifests = helm_sdk.render(archive.read_bytes(), release_name="demo")
    assert manifests == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "demo-hello"},
            "data": {"greeting": "hello from the bucket"},
        }
    ]


def test_helm_without_credentials_is_refused(helm_repo_proxy: ProxyProcess, tmp_path: Path) -> None:
    with pytest.raises(helm_sdk.HelmError, match="401"):
        helm_sdk.pull(
            CHART_NAME,
            helm_repo_proxy.base_url + "/",
            tmp_path,
            version=CHART_VERSION,
            insecure_skip_tls_verify=True,
        )


def test_proxy_serves_https(helm_repo_proxy: ProxyProcess) -> None:
    assert helm_repo_proxy.base_url.startswith("https://")
    reply = helm_repo_proxy.request("/", auth=("helm", "s3cr3t pass"))
    assert reply.status == 200
    assert yaml.safe_load(reply.body)["entries"][CHART_NAME][0]["version"] == CHART_VERSION
