"""Interrupted publishes, incremental reindex, verify and delete against a real (moto) bucket."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from berth.chart_repo.delete import delete_from_store
from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.index import chart_entry, from_entries, parse_index, rfc3339_nano
from berth.chart_repo.publish import (
    PackagedChart,
    PublishSummary,
    package_chart,
    publish_packaged,
    upload_archives,
)
from berth.chart_repo.reindex import reindex_store
from berth.chart_repo.store import ChartStore
from berth.chart_repo.verify import verify_store
from tests.support.chart_repo import ChartFactory, RequestLog, read_index_text


@pytest.fixture
def package(make_chart: ChartFactory, tmp_path: Path) -> Any:
    def packaged(name: str, version: str, **kwargs: Any) -> PackagedChart:
        chart = make_chart(name, version, **kwargs)
        return package_chart(chart, tmp_path / "out" / f"{name}-{version}", out=io.StringIO())

    return packaged


def _index(s3: Any, bucket: str) -> Any:
    return parse_index(read_index_text(s3, bucket).encode())


def _upload_only(store: ChartStore, chart: PackagedChart) -> None:
    """A publish interrupted after the archive upload, before the index write."""
    summary = PublishSummary(location=store.location)
    upload_archives(store, [chart], summary, force=False, skip_existing=False, out=io.StringIO())
    assert summary.uploaded == [chart.label]


def test_interrupted_publish_is_reported_by_verify_and_repaired_by_reindex(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_packaged(store, [package("demo", "0.1.0")], out=out)
    _upload_only(store, package("demo", "0.2.0"))

    assert verify_store(store) == ["demo-0.2.0.tgz: archive is not in index.yaml"]
    retry = publish_packaged(store, [package("demo", "0.2.0")], out=out)
    assert retry.refused == ["demo 0.2.0"]
    assert retry.unindexed == ["demo 0.2.0"]
    assert "run `berth charts reindex`" in out.getvalue()

    summary = reindex_store(store, out=out)

    assert summary.added == ["demo 0.2.0"]
    assert summary.written
    assert verify_store(store) == []
    assert [e["version"] for e in _index(s3, bucket).entries["demo"]] == ["0.2.0", "0.1.0"]


def test_reindex_downloads_only_the_new_archive(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_packaged(store, [package("a", "1.0.0"), package("b", "1.0.0"), package("c", "1.0.0")])
    _upload_only(store, package("new", "1.0.0"))
    log = RequestLog(s3)

    summary = reindex_store(store, out=out)

    assert log.paths("GET").count("new-1.0.0.tgz") == 1
    assert [p for p in log.paths("GET") if p.endswith(".tgz")] == ["new-1.0.0.tgz"]
    assert log.count("HEAD") == 3  # one per trusted entry, no download
    assert log.paths("PUT") == ["index.yaml", ".berth/reindex-digests.json"]
    assert summary.downloaded == 1
    assert summary.kept == 3
    assert sorted(_index(s3, bucket).entries) == ["a", "b", "c", "new"]


def test_reindex_of_a_consistent_repo_writes_nothing(
    store: ChartStore, package: Any, s3: Any, out: io.StringIO
) -> None:
    publish_packaged(store, [package("a", "1.0.0")], out=out)
    log = RequestLog(s3)

    summary = reindex_store(store, out=out)
    again = reindex_store(store, out=out)

    assert not summary.written
    assert not again.written
    assert log.paths("PUT") == [".berth/reindex-digests.json"]  # remembered once, then nothing
    assert "already up to date" in out.getvalue()


def test_reindex_removes_entries_whose_archive_is_gone(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_packaged(store, [package("a", "1.0.0"), package("a", "2.0.0")], out=out)
    s3.delete_object(Bucket=bucket, Key="a-2.0.0.tgz")
    assert verify_store(store) == ["a 2.0.0: archive a-2.0.0.tgz is missing"]

    summary = reindex_store(store, out=out)

    assert summary.removed == ["a 2.0.0"]
    assert [e["version"] for e in _index(s3, bucket).entries["a"]] == ["1.0.0"]
    assert verify_store(store) == []


def test_reindex_refreshes_an_entry_whose_archive_changed(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_packaged(store, [package("a", "1.0.0", greeting="old")], out=out)
    replacement = package("a", "1.0.0", greeting="new")
    # Replaced behind Berth's back, without digest metadata (e.g. by `aws s3 cp`).
    s3.put_object(Bucket=bucket, Key="a-1.0.0.tgz", Body=replacement.archive.read_bytes())
    problems = verify_store(store)
    assert len(problems) == 1
    assert problems[0].startswith("a 1.0.0: digest mismatch")

    summary = reindex_store(store, out=out)

    assert summary.refreshed == ["a 1.0.0"]
    assert _index(s3, bucket).entries["a"][0]["digest"] == replacement.digest
    assert verify_store(store) == []


def test_reindex_adopts_foreign_uploads_and_makes_urls_relative(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    """A repo built by the documented CI step: absolute URLs, archives without digest metadata."""
    chart = package("legacy", "1.0.0")
    s3.put_object(Bucket=bucket, Key=chart.key, Body=chart.archive.read_bytes())
    s3.put_object(Bucket=bucket, Key="notes.tgz", Body=b"not a chart")
    legacy_index = (
        "apiVersion: v1\nentries:\n  legacy:\n  - apiVersion: v2\n    name: legacy\n"
        f"    version: 1.0.0\n    created: 2020-01-01T00:00:00.5Z\n    digest: {chart.digest}\n"
        f"    urls:\n    - https://{bucket}.s3.eu-west-1.amazonaws.com/{chart.key}\n"
        "generated: 2020-01-01T00:00:00Z\n"
    )
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=legacy_index.encode())
    assert verify_store(store) == [
        f"legacy 1.0.0: url https://{bucket}.s3.eu-west-1.amazonaws.com/{chart.key} is absolute"
        " (reindex makes it relative)",
        "notes.tgz: archive is not in index.yaml",
    ]

    summary = reindex_store(store, out=out)

    entry = _index(s3, bucket).entries["legacy"][0]
    assert entry["urls"] == ["legacy-1.0.0.tgz"]
    assert entry["created"] == "2020-01-01T00:00:00.5Z"  # same bytes: the entry is kept
    assert summary.ignored[0].startswith("notes.tgz: not a Helm chart")
    assert verify_store(store) == ["notes.tgz: archive is not in index.yaml"]


def test_reindex_builds_a_missing_index(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    _upload_only(store, package("a", "1.0.0"))
    assert verify_store(store) == [
        f"s3://{bucket}/index.yaml: missing",
        "a-1.0.0.tgz: archive is not in index.yaml",
    ]

    reindex_store(store, out=out)

    assert verify_store(store) == []


def test_reindex_never_overwrites_a_foreign_index(store: ChartStore, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=b"hello: world\n")

    with pytest.raises(ChartRepoError, match="not a Helm repository index"):
        reindex_store(store, out=io.StringIO())
    assert s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read() == b"hello: world\n"
    assert verify_store(store)[0].endswith("refusing to overwrite it (move it aside, then run"
                                          " `berth charts reindex`)")  # fmt: skip


def test_delete_updates_the_index_before_deleting_the_archive(
    store: ChartStore, package: Any, s3: Any, bucket: str, out: io.StringIO
) -> None:
    publish_packaged(store, [package("a", "1.0.0"), package("a", "2.0.0")], out=out)
    log = RequestLog(s3)

    summary = delete_from_store(store, "a", "2.0.0", out=out)

    writes = [(m, p) for m, p in log.requests if m in ("PUT", "DELETE")]
    assert writes == [("PUT", "index.yaml"), ("DELETE", "a-2.0.0.tgz")]
    assert summary.deleted_archive == "a-2.0.0.tgz"
    assert [e["version"] for e in _index(s3, bucket).entries["a"]] == ["1.0.0"]
    assert verify_store(store) == []


def test_deleting_an_unknown_version_is_a_clear_error(
    store: ChartStore, package: Any, out: io.StringIO
) -> None:
    publish_packaged(store, [package("a", "1.0.0")], out=out)

    with pytest.raises(ChartRepoError, match=r"a 9\.9\.9: not in s3://"):
        delete_from_store(store, "a", "9.9.9", out=out)


def test_delete_of_an_unindexed_archive_removes_it(
    store: ChartStore, package: Any, out: io.StringIO
) -> None:
    _upload_only(store, package("a", "1.0.0"))

    summary = delete_from_store(store, "a", "1.0.0", out=out)

    assert summary == type(summary)(label="a 1.0.0", removed_from_index=False,
                                    deleted_archive="a-1.0.0.tgz")  # fmt: skip
    assert verify_store(store) == []


def test_reindex_keeps_entries_with_nested_relative_urls(
    store: ChartStore, package: Any, s3: Any, bucket: str
) -> None:
    chart = package("nested", "1.0.0")
    key = f"stable/{chart.key}"
    s3.put_object(
        Bucket=bucket, Key=key, Body=chart.archive.read_bytes(), Metadata={"digest": chart.digest}
    )
    entry = chart_entry(chart.metadata, digest=chart.digest, created=rfc3339_nano(), url=key)
    store.write_index(from_entries([entry]), None)

    summary = reindex_store(store, out=io.StringIO())

    assert (summary.kept, summary.removed, summary.written) == (1, [], False)
    assert verify_store(store) == []


def test_second_reindex_heads_only_archives_it_has_not_seen(
    store: ChartStore, package: Any, s3: Any, bucket: str
) -> None:
    publish_packaged(store, [package("a", "1.0.0"), package("b", "1.0.0")], out=io.StringIO())
    assert reindex_store(store, out=io.StringIO()).headed == 2  # first run: nothing remembered
    _upload_only(store, package("new", "1.0.0"))
    log = RequestLog(s3)

    summary = reindex_store(store, out=io.StringIO())

    assert summary.added == ["new 1.0.0"]
    assert log.count("HEAD") == 0  # a, b known by ETag; "new" is downloaded, not HEADed
    assert [p for p in log.paths("GET") if p.endswith(".tgz")] == ["new-1.0.0.tgz"]


def test_remembered_digests_do_not_hide_a_replaced_archive(
    store: ChartStore, package: Any, s3: Any, bucket: str
) -> None:
    publish_packaged(store, [package("a", "1.0.0", greeting="old")], out=io.StringIO())
    reindex_store(store, out=io.StringIO())
    replacement = package("a", "1.0.0", greeting="new")
    s3.put_object(Bucket=bucket, Key="a-1.0.0.tgz", Body=replacement.archive.read_bytes())

    summary = reindex_store(store, out=io.StringIO())

    assert summary.refreshed == ["a 1.0.0"]
    assert _index(s3, bucket).entries["a"][0]["digest"] == replacement.digest
