"""The pure index model: parse/validate, merge, relative URLs, semver order, Helm's layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from berth.chart_repo.index import (
    IndexFormatError,
    RepoIndex,
    chart_entry,
    entry_archive_key,
    from_entries,
    parse_index,
    rfc3339_nano,
    same_entries,
    serialise_index,
    version_sort_key,
    with_entry,
    without_entry,
)

METADATA = {"apiVersion": "v2", "name": "demo", "description": "Demo", "type": "application"}


def entry(name: str = "demo", version: str = "1.0.0", digest: str = "ab" * 32) -> dict[str, object]:
    return chart_entry(
        {**METADATA, "name": name, "version": version},
        digest=f"sha256:{digest}",
        created="2026-11-22T10:00:00.123456789Z",
        url=f"{name}-{version}.tgz",
    )


def test_entry_has_bare_digest_relative_url_and_created() -> None:
    made = entry()
    assert made["digest"] == "ab" * 32
    assert made["urls"] == ["demo-1.0.0.tgz"]
    assert made["created"] == "2026-11-22T10:00:00.123456789Z"


def test_entry_leaves_out_empty_metadata_like_helms_omitempty() -> None:
    made = chart_entry(
        {**METADATA, "version": "1.0.0", "keywords": [], "home": ""},
        digest="x",
        created="t",
        url="u",
    )
    assert "keywords" not in made
    assert "home" not in made


def test_with_entry_adds_and_replaces_the_same_version() -> None:
    index = with_entry(with_entry(RepoIndex(), entry(version="1.0.0")), entry(version="1.1.0"))
    replaced = with_entry(index, entry(version="1.0.0", digest="cd" * 32))
    versions = [(e["version"], e["digest"]) for e in replaced.entries["demo"]]
    assert versions == [("1.1.0", "ab" * 32), ("1.0.0", "cd" * 32)]


def test_with_entry_leaves_the_original_untouched() -> None:
    original = with_entry(RepoIndex(), entry(version="1.0.0"))
    with_entry(original, entry(version="2.0.0"))
    assert len(original) == 1


def test_without_entry_drops_the_chart_when_its_last_version_goes() -> None:
    index = with_entry(with_entry(RepoIndex(), entry()), entry(name="other"))
    assert list(without_entry(index, "demo", "1.0.0").entries) == ["other"]


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (["1.0.0", "1.10.0", "1.2.0"], ["1.10.0", "1.2.0", "1.0.0"]),
        (["1.0.0-rc.1", "1.0.0", "1.0.0-beta"], ["1.0.0", "1.0.0-rc.1", "1.0.0-beta"]),
        (
            ["1.0.0-alpha.2", "1.0.0-alpha.10", "1.0.0-alpha"],
            ["1.0.0-alpha.10", "1.0.0-alpha.2", "1.0.0-alpha"],
        ),
        (["0.9.9", "v1.0.0", "not-semver"], ["v1.0.0", "0.9.9", "not-semver"]),
        (["2.0.0+build.1", "10.0.0"], ["10.0.0", "2.0.0+build.1"]),
    ],
)
def test_versions_are_sorted_newest_first_by_semver(
    versions: list[str], expected: list[str]
) -> None:
    index = from_entries([entry(version=v) for v in versions])
    assert [e["version"] for e in index.entries["demo"]] == expected


def test_version_sort_key_follows_semver_precedence_example() -> None:
    # The precedence chain from semver.org section 11.
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]  # fmt: skip
    assert sorted(reversed(chain), key=version_sort_key) == chain


def test_serialise_writes_helms_layout_and_parses_back() -> None:
    index = from_entries([entry(version="1.0.0"), entry(name="alpha", version="0.1.0")])
    text = serialise_index(index, generated="2026-11-22T10:00:00Z").decode()
    assert text.startswith("apiVersion: v1\nentries:\n  alpha:\n  - apiVersion: v2\n")
    assert text.endswith("generated: '2026-11-22T10:00:00Z'\n")
    document = yaml.safe_load(text)
    assert list(document["entries"]["demo"][0]) == sorted(document["entries"]["demo"][0])
    assert same_entries(parse_index(text.encode()), index)


def test_parse_keeps_scalars_as_written() -> None:
    # Written by helm itself: unquoted timestamp and a float-looking appVersion.
    text = (
        b"apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.0.0\n"
        b"    appVersion: 1.10\n    created: 2026-11-22T10:00:00.123456789Z\n    deprecated: true\n"
        b"    urls: [demo-1.0.0.tgz]\ngenerated: 2026-11-22T10:00:00Z\n"
        b"serverInfo: {contextPath: /x}\n"
    )
    index = parse_index(text)
    parsed = index.entries["demo"][0]
    assert parsed["appVersion"] == "1.10"
    assert parsed["created"] == "2026-11-22T10:00:00.123456789Z"
    assert parsed["deprecated"] is True
    assert index.extra == {"serverInfo": {"contextPath": "/x"}}
    assert b"serverInfo" in serialise_index(index)


def test_parse_accepts_an_empty_repository() -> None:
    assert len(parse_index(b"apiVersion: v1\nentries: {}\ngenerated: x\n")) == 0
    assert len(parse_index(b"apiVersion: v1\nentries:\n")) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the document is empty"),
        (b"{{{ not yaml", "not valid YAML"),
        (b"<html><body>Access denied</body></html>", "the document is a str"),
        (b"- a\n- b\n", "the document is a list"),
        (b"kind: ConfigMap\napiVersion: v1\nentries: {}\n", "unexpected top-level field 'kind'"),
        (b"apiVersion: v1\n", "no `entries`"),
        (b"apiVersion: v1\nentries: [demo]\n", "`entries` is not a mapping"),
        (b"apiVersion: v2\nentries: {}\n", "apiVersion is 'v2'"),
        (b"entries: {}\n", "apiVersion is None"),
        (b"apiVersion: v1\nentries: {demo: {}}\n", "entries.demo: expected a list"),
        (b"apiVersion: v1\nentries: {demo: [{name: demo}]}\n", "`version` is missing"),
        (b"apiVersion: v1\nentries: {demo: [{name: d, version: '1', urls: x}]}\n", "`urls` is not"),
    ],
)
def test_parse_refuses_anything_that_is_not_a_helm_index(data: bytes, message: str) -> None:
    with pytest.raises(IndexFormatError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_index(data)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("demo-1.0.0.tgz", "demo-1.0.0.tgz"),
        ("https://bucket.s3.eu-west-1.amazonaws.com/demo-1.0.0.tgz", "demo-1.0.0.tgz"),
        ("s3://bucket/demo-1.0.0.tgz", "demo-1.0.0.tgz"),
        ("/charts/demo-1.0.0.tgz", "demo-1.0.0.tgz"),
    ],
)
def test_entry_archive_key_reads_relative_and_absolute_urls(url: str, key: str) -> None:
    assert entry_archive_key({"urls": [url]}) == key


def test_rfc3339_nano_matches_gos_format() -> None:
    seconds = int(datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC).timestamp())
    assert rfc3339_nano(seconds * 10**9 + 123_456_789) == "2026-11-22T10:00:00.123456789Z"
    assert rfc3339_nano(seconds * 10**9 + 120_000_000) == "2026-11-22T10:00:00.12Z"
    assert rfc3339_nano(seconds * 10**9) == "2026-11-22T10:00:00Z"


def test_five_thousand_entries_round_trip() -> None:
    # Size, not speed, is asserted here; bench/chart_repo_bench.py times it.
    index = from_entries(entry(name=f"chart{i % 50}", version=f"1.{i}.0") for i in range(5000))
    parsed = parse_index(serialise_index(index))
    assert len(parsed) == 5000
    assert parsed.entries["chart0"][0]["version"] == "1.4950.0"
