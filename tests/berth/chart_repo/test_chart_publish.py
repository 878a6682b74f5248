"""Publishing into a real (moto) bucket: archive first, conditional index update, immutability,
and a corrupt or foreign index.yaml that is never overwritten."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth import helm_sdk
from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.index import parse_index, rfc3339_nano
from berth.chart_repo.publish import package_chart, publish_charts, publish_packaged
from berth.chart_repo.store import ChartStore, IndexConflictError, RetryPolicy, update_index
from berth_core.config import Environment
from tests.support.chart_repo import ChartFactory, object_keys, read_index_text


def test_publish_uploads_archive_with_digest_metadata_and_indexes_it(
    env: Environment, make_chart: ChartFactory, s3: Any, bucket: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    summary = publish_charts(env, [make_chart("demo", "0.1.0")], out=out)

    assert summary.uploaded == ["demo 0.1.0"]
    assert object_keys(s3, bucket) == ["demo-0.1.0.tgz", "index.yaml"]
    archive = s3.get_object(Bucket=bucket, Key="demo-0.1.0.tgz")
    entry = yaml.safe_load(read_index_text(s3, bucket))["entries"]["demo"][0]
    assert archive["Metadata"]["digest"] == entry["digest"]
    assert entry["urls"] == ["demo-0.1.0.tgz"]
    downloaded = tmp_path / "downloaded.tgz"
    downloaded.write_bytes(archive["Body"].read())
    assert entry["digest"] == helm_sdk.digest(downloaded).removeprefix("sha256:")
    assert "demo 0.1.0: uploaded s3://" in out.getvalue()
    assert "1 uploaded, 0 skipped, 0 refused, 0 index retries" in out.getvalue()


def test_publish_merges_with_existing_entries(
    env: Environment, make_chart: ChartFactory, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_charts(env, [make_chart("demo", "0.1.0")], out=out)
    publish_charts(env, [make_chart("demo", "0.2.0"), make_chart("other", "1.0.0")], out=out)

    index = parse_index(read_index_text(s3, bucket).encode())
    assert [e["version"] for e in index.entries["demo"]] == ["0.2.0", "0.1.0"]
    assert [e["version"] for e in index.entries["other"]] == ["1.0.0"]


def test_republishing_a_version_is_refused_and_changes_nothing(
    env: Environment, make_chart: ChartFactory, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_charts(env, [make_chart("demo", "0.1.0", greeting="first")], out=out)
    archive_before = s3.head_object(Bucket=bucket, Key="demo-0.1.0.tgz")["ETag"]
    index_before = s3.head_object(Bucket=bucket, Key="index.yaml")["ETag"]

    summary = publish_charts(env, [make_chart("demo", "0.1.0", greeting="second")], out=out)

    assert not summary.ok
    assert summary.refused == ["demo 0.1.0"]
    assert s3.head_object(Bucket=bucket, Key="demo-0.1.0.tgz")["ETag"] == archive_before
    assert s3.head_object(Bucket=bucket, Key="index.yaml")["ETag"] == index_before
    versions = s3.list_object_versions(Bucket=bucket, Prefix="demo-0.1.0.tgz")["Versions"]
    assert len(versions) == 1


def test_skip_existing_reports_skipped_and_changes_nothing(
    env: Environment, make_chart: ChartFactory, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_charts(env, [make_chart("demo", "0.1.0", greeting="first")], out=out)
    index_before = s3.head_object(Bucket=bucket, Key="index.yaml")["ETag"]

    summary = publish_charts(
        env, [make_chart("demo", "0.1.0", greeting="second")], skip_existing=True, out=out
    )

    assert summary.ok
    assert summary.skipped == ["demo 0.1.0"]
    assert s3.head_object(Bucket=bucket, Key="index.yaml")["ETag"] == index_before


def test_force_replaces_the_archive_and_its_entry(
    env: Environment, make_chart: ChartFactory, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_charts(env, [make_chart("demo", "0.1.0", greeting="first")], out=out)
    first = yaml.safe_load(read_index_text(s3, bucket))["entries"]["demo"][0]["digest"]

    publish_charts(env, [make_chart("demo", "0.1.0", greeting="second")], force=True, out=out)

    entries = yaml.safe_load(read_index_text(s3, bucket))["entries"]["demo"]
    assert len(entries) == 1
    assert entries[0]["digest"] != first
    head = s3.head_object(Bucket=bucket, Key="demo-0.1.0.tgz")
    assert head["Metadata"]["digest"] == entries[0]["digest"]


def test_lint_error_stops_before_anything_is_uploaded(
    env: Environment, make_chart: ChartFactory, s3: Any, bucket: str, out: io.StringIO
) -> None:
    good = make_chart("good", "1.0.0")
    broken = make_chart("broken", "1.0.0")
    (broken / "templates" / "configmap.yaml").write_text("{{ .Values.greeting | nosuchfunc }}\n")

    with pytest.raises(ChartRepoError, match="broken: helm lint failed"):
        publish_charts(env, [good, broken], out=out)
    assert object_keys(s3, bucket) == []


def test_a_directory_without_chart_yaml_is_refused(env: Environment, tmp_path: Path) -> None:
    with pytest.raises(ChartRepoError, match="not a chart directory"):
        publish_charts(env, [tmp_path], out=io.StringIO())


@pytest.mark.parametrize(
    "foreign",
    [
        b"",
        b"<?xml version='1.0'?><Error>not yaml: [</Error>\n",
        b"apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
        b"apiVersion: v1\nentries:\n  demo: this is not a list\n",
    ],
    ids=["empty", "garbage", "configmap", "broken-entries"],
)
def test_a_corrupt_or_foreign_index_is_never_overwritten(
    foreign: bytes, env: Environment, make_chart: ChartFactory, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=foreign)

    with pytest.raises(
        ChartRepoError, match=r"index\.yaml: not a Helm repository index .*; refusing to overwrite"
    ):
        publish_charts(env, [make_chart("demo", "0.1.0")], out=io.StringIO())

    assert s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read() == foreign
    versions = s3.list_object_versions(Bucket=bucket, Prefix="index.yaml")["Versions"]
    assert len(versions) == 1


def test_conflicting_write_is_retried_after_rereading(
    store: ChartStore, make_chart: ChartFactory, tmp_path: Path, s3: Any, bucket: str
) -> None:
    """Deterministic interleaving: another publisher writes between our read and our write."""
    out = io.StringIO()
    mine = package_chart(make_chart("mine", "1.0.0"), tmp_path / "mine", out=out)
    theirs = package_chart(make_chart("theirs", "1.0.0"), tmp_path / "theirs", out=out)
    publish_packaged(store, [package_chart(make_chart("seed", "1.0.0"), tmp_path / "s", out=out)])
    interleaved = []

    class Interleaving(ChartStore):
        def write_index(self, index: Any, expected_etag: str | None) -> str:
            if not interleaved:  # first attempt only: the other publisher wins the race
                interleaved.append(True)
                publish_packaged(ChartStore(s3, bucket), [theirs], out=io.StringIO())
            return super().write_index(index, expected_etag)

    summary = publish_packaged(Interleaving(s3, bucket), [mine], out=out)

    assert summary.index_retries == 1
    assert "changed by someone else (conflict 1)" in out.getvalue()
    index = parse_index(read_index_text(s3, bucket).encode())
    assert sorted(index.entries) == ["mine", "seed", "theirs"]


def test_without_the_precondition_the_same_interleaving_loses_a_chart(
    store: ChartStore, make_chart: ChartFactory, tmp_path: Path, s3: Any, bucket: str
) -> None:
    """The control for the test above: what the documented CI step and helm-s3 do."""
    out = io.StringIO()
    mine = package_chart(make_chart("mine", "1.0.0"), tmp_path / "mine", out=out)
    theirs = package_chart(make_chart("theirs", "1.0.0"), tmp_path / "theirs", out=out)
    interleaved = []

    class Unconditional(ChartStore):
        def _put_index(self, body: bytes, condition: dict[str, str]) -> Any:
            if not interleaved:
                interleaved.append(True)
                publish_packaged(Unconditional(s3, bucket), [theirs], out=io.StringIO())
            return super()._put_index(body, {})

    publish_packaged(Unconditional(s3, bucket), [mine], out=out)

    index = parse_index(read_index_text(s3, bucket).encode())
    assert sorted(index.entries) == ["mine"]  # "theirs" was lost


def test_retries_are_bounded(store: ChartStore, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=b"apiVersion: v1\nentries: {}\n")
    delays: list[float] = []

    def always_outrun(index: Any) -> Any:
        # Someone else rewrites the index after every read of ours.
        s3.put_object(
            Bucket=bucket,
            Key="index.yaml",
            Body=f"apiVersion: v1\nentries: {{}}\n# {rfc3339_nano()}\n",
        )
        return index

    policy = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.02)
    with pytest.raises(ChartRepoError, match="still changing after 4 attempts"):
        update_index(store, always_outrun, out=io.StringIO(), policy=policy, sleep=delays.append)
    assert len(delays) == 3
    assert all(0 <= d <= 0.02 for d in delays)


def test_the_first_index_is_created_only_if_absent(store: ChartStore, s3: Any, bucket: str) -> None:
    """If-None-Match: * on the first index: a concurrently created index is not replaced."""
    snapshot = store.read_index()
    assert snapshot.etag is None
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=b"apiVersion: v1\nentries: {}\n")
    with pytest.raises(IndexConflictError):
        store.write_index(snapshot.index, snapshot.etag)
