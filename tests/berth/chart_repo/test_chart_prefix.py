"""A repository below a key prefix (`helm_repo.prefix: charts/`): publish, reindex, delete and
verify keep to it, and the index's URLs stay relative (helm-s3 reads `s3://BUCKET/charts`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.chart_repo.delete import delete_chart
from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.publish import publish_charts
from berth.chart_repo.reindex import reindex_repo
from berth.chart_repo.store import store_for
from berth.chart_repo.verify import verify_repo
from berth_core.config import Environment, load_environment_file
from tests.support.chart_repo import ChartFactory, object_keys


@pytest.fixture
def prefixed(tmp_path: Path, bucket: str) -> Environment:
    """An emulator environment whose repository lives below `charts/` of this test's bucket."""
    path = tmp_path / "envs" / "prefixed.yaml"
    path.parent.mkdir()
    path.write_text(
        yaml.safe_dump(
            {
                "account_id": "123456789012",
                "region": "eu-west-1",
                "name_prefix": "berth-prefixed",
                "emulator": True,
                "helm_repo": {
                    "publisher_principals": ["arn:aws:iam::123456789012:role/publisher"],
                    "bucket_name": bucket,
                    "prefix": "charts",
                },
            }
        )
    )
    return load_environment_file(path)


def test_the_repository_is_addressed_by_bucket_and_prefix(
    prefixed: Environment, s3: Any, bucket: str
) -> None:
    assert prefixed.helm_repo.prefix == "charts/"
    assert store_for(prefixed, s3).location == f"s3://{bucket}/charts"


def test_publish_writes_below_the_prefix_with_relative_urls(
    prefixed: Environment, make_chart: ChartFactory, s3: Any, bucket: str
) -> None:
    out = io.StringIO()
    publish_charts(prefixed, [make_chart("demo", "0.1.0")], out=out)

    assert object_keys(s3, bucket) == ["charts/demo-0.1.0.tgz", "charts/index.yaml"]
    index = yaml.safe_load(s3.get_object(Bucket=bucket, Key="charts/index.yaml")["Body"].read())
    # Relative to the index: s3://BUCKET/charts/ + demo-0.1.0.tgz for helm-s3, the proxy's
    # / + demo-0.1.0.tgz over HTTPS.
    assert index["entries"]["demo"][0]["urls"] == ["demo-0.1.0.tgz"]
    assert f"uploaded s3://{bucket}/charts/demo-0.1.0.tgz" in out.getvalue()


def test_reindex_verify_and_delete_keep_to_the_prefix(
    prefixed: Environment, make_chart: ChartFactory, s3: Any, bucket: str
) -> None:
    out = io.StringIO()
    publish_charts(prefixed, [make_chart("demo", "0.1.0")], out=out)
    archive = s3.get_object(Bucket=bucket, Key="charts/demo-0.1.0.tgz")["Body"].read()
    # Someone else's objects beside the repository, outside its prefix: never touched.
    s3.put_object(Bucket=bucket, Key="other/demo-9.9.9.tgz", Body=archive)
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=b"not a helm index")

    assert verify_repo(prefixed, client=s3) == []
    summary = reindex_repo(prefixed, out=out, client=s3)
    assert (summary.kept, summary.added, summary.ignored) == (1, [], [])
    assert "charts/.berth/reindex-digests.json" in object_keys(s3, bucket)

    delete_chart(prefixed, "demo", "0.1.0", out=out, client=s3)
    assert object_keys(s3, bucket) == [
        "charts/.berth/reindex-digests.json",
        "charts/index.yaml",
        "index.yaml",
        "other/demo-9.9.9.tgz",
    ]
    assert verify_repo(prefixed, client=s3) == []


def test_an_archive_copied_in_below_the_prefix_is_found(
    prefixed: Environment, make_chart: ChartFactory, s3: Any, bucket: str
) -> None:
    out = io.StringIO()
    publish_charts(prefixed, [make_chart("demo", "0.1.0")], out=out)
    archive = s3.get_object(Bucket=bucket, Key="charts/demo-0.1.0.tgz")["Body"].read()
    s3.put_object(Bucket=bucket, Key="charts/nested/demo-0.1.0-copy.tgz", Body=archive)

    assert verify_repo(prefixed, client=s3) == [
        "nested/demo-0.1.0-copy.tgz: archive is not in index.yaml"
    ]


def test_an_environment_without_a_repository_of_its_own_has_no_store(tmp_path: Path) -> None:
    folder = tmp_path / "envs"
    folder.mkdir()
    base = {"account_id": "123456789012", "region": "eu-west-1", "emulator": True}
    (folder / "shared.yaml").write_text(
        yaml.safe_dump(
            {
                **base,
                "name_prefix": "acme-shared",
                "helm_repo": {"publisher_principals": ["arn:aws:iam::123456789012:role/ci"]},
            }
        )
    )
    (folder / "team.yaml").write_text(
        yaml.safe_dump(
            {
                **base,
                "name_prefix": "acme-team",
                "helm_repo": {
                    "central": {
                        "bucket": "acme-shared-helm-charts",
                        "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k",
                    }
                },
            }
        )
    )
    team = load_environment_file(folder / "team.yaml")
    with pytest.raises(ChartRepoError, match="team has no chart repository of its own"):
        store_for(team, object())
