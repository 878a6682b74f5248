"""`berth charts reindex`: rebuild index.yaml from the archives in the bucket, incrementally.

An entry is kept without downloading anything when its archive is still listed and the digest
recorded at upload (`x-amz-meta-digest`, read by HEAD) equals the entry's digest. Only archives
that are new, changed, or carry no digest metadata are downloaded and read. helm-s3's reindex
downloads every chart (hours to days on a large repository); this one reads what changed.

HEADs are saved too: each run leaves `.berth/reindex-digests.json` (key -> ETag and digest). A
listed archive whose ETag still equals the remembered one was not rewritten since, so its
remembered digest stands without a HEAD. The file is only a hint: when it is missing, stale
or unreadable, the archives are HEADed as usual. `verify` never relies on it.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from berth import helm_sdk
from berth.chart_repo.index import (
    INDEX_KEY,
    Entry,
    RepoIndex,
    bare_digest,
    chart_entry,
    entry_archive_key,
    from_entries,
    rfc3339_nano,
    same_entries,
)
from berth.chart_repo.store import (
    ChartRepoError,
    ChartStore,
    ListedArchive,
    RetryPolicy,
    store_for,
    update_index,
)
from berth_core.config import Environment

_DOWNLOAD_WORKERS = 4
DIGEST_CACHE_KEY = ".berth/reindex-digests.json"


@dataclass(frozen=True)
class ReadArchive:
    """What a downloaded archive turned out to be: a chart entry, or why it is not one."""

    entry: Entry | None
    problem: str | None = None


@dataclass
class ReindexSummary:
    """What one reindex did."""

    location: str
    kept: int = 0
    added: list[str] = field(default_factory=list)
    # Versions whose archive was replaced (--force or by hand): their entry now matches it.
    refreshed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    downloaded: int = 0
    # Archives whose digest needed a HEAD (the rest were known by ETag from the last reindex).
    headed: int = 0
    written: bool = False
    retries: int = 0

    def describe(self) -> str:
        state = "index.yaml rewritten" if self.written else "index.yaml already up to date"
        return (
            f"{self.location}: {self.kept} kept, {len(self.added)} added,"
            f" {len(self.refreshed)} refreshed, {len(self.removed)} removed,"
            f" {len(self.ignored)} ignored, {self.headed} HEADed, {self.downloaded} downloaded;"
            f" {state}"
        )


class _Reindexer:
    """One reindex run. Caches HEAD and GET results by (key, ETag) across conflict retries."""

    def __init__(self, store: ChartStore) -> None:
        self.store = store
        self.summary = ReindexSummary(location=store.location)
        self._digests: dict[tuple[str, str], str | None] = {}
        self._read: dict[tuple[str, str], ReadArchive] = {}
        self._listed: dict[str, ListedArchive] = {}
        self._remembered = self._load_remembered()
        for key, (etag, digest) in self._remembered.items():
            self._digests[(key, etag)] = digest

    def _load_remembered(self) -> dict[str, tuple[str, str]]:
        document = self.store.read_json(DIGEST_CACHE_KEY)
        archives = document.get("archives") if isinstance(document, dict) else None
        if not isinstance(archives, dict):
            return {}
        return {
            key: (str(value["etag"]), str(value["digest"]))
            for key, value in archives.items()
            if isinstance(value, dict) and value.get("etag") and value.get("digest")
        }

    def remember(self) -> None:
        """Save what this run learnt (key -> ETag, digest) for the next reindex."""
        known: dict[str, tuple[str, str]] = {}
        for key, listed in self._listed.items():
            read = self._read.get((key, listed.etag))
            digest = read.entry["digest"] if read and read.entry else None
            digest = digest or self._digests.get((key, listed.etag))
            if digest:
                known[key] = (listed.etag, str(digest))
        if known != self._remembered:
            archives = {k: {"etag": e, "digest": d} for k, (e, d) in sorted(known.items())}
            self.store.put_json(DIGEST_CACHE_KEY, {"archives": archives})

    def rebuild(self, index: RepoIndex) -> RepoIndex | None:
        """The index the bucket's archives call for, or None when `index` already is it.

        Runs on every retry with a freshly read index, and lists the bucket AFTER that read:
        a publish uploads its archive before it writes the index, so every archive the read
        index mentions is already listable and is never dropped by mistake.
        """
        self.summary.ignored = []
        archives = self._listed = self.store.list_archives()
        kept, unverified = self._trusted_entries(index, archives)
        kept_keys = {entry_archive_key(e) for e in kept}
        to_read = [archives[k] for k in sorted(archives) if k not in kept_keys]
        fresh = []
        for entry in self._read_new(to_read):
            previous = unverified.get(str(entry_archive_key(entry)))
            if previous is not None and previous.get("digest") == entry["digest"]:
                # Same bytes as indexed (the archive just lacked digest metadata): keep `created`.
                kept.append(_relative(previous, str(entry_archive_key(entry))))
            else:
                fresh.append(entry)
        new_entries = _without_duplicates([*kept, *fresh], self.summary)
        old_labels = {_label(e) for e in index.all_entries()}
        fresh_ids = {id(e) for e in fresh}
        fresh_labels = [_label(e) for e in new_entries if id(e) in fresh_ids]
        self.summary.added = [label for label in fresh_labels if label not in old_labels]
        self.summary.refreshed = [label for label in fresh_labels if label in old_labels]
        self.summary.kept = len(new_entries) - len(fresh_labels)
        self.summary.removed = sorted(old_labels - {_label(e) for e in new_entries})
        rebuilt = from_entries(new_entries, base=index)
        return None if same_entries(rebuilt, index) else rebuilt

    def _trusted_entries(
        self, index: RepoIndex, archives: dict[str, ListedArchive]
    ) -> tuple[list[Entry], dict[str, Entry]]:
        """Entries whose archive is listed with the digest they claim, and (by key) the rest
        whose archive is listed but unverified: no digest metadata, or a different one."""
        candidates = [
            (entry, key)
            for entry in index.all_entries()
            if (key := entry_archive_key(entry)) is not None and key in archives
        ]
        self._head([archives[key] for _, key in candidates])
        kept, unverified = [], {}
        for entry, key in candidates:
            recorded = self._digests[(key, archives[key].etag)]
            if recorded is not None and recorded == entry.get("digest"):
                kept.append(_relative(entry, key))
            else:
                unverified[key] = entry
        return kept, unverified

    def _head(self, listed: list[ListedArchive]) -> None:
        missing = [a for a in listed if (a.key, a.etag) not in self._digests]
        digests = self.store.archive_digests([a.key for a in missing])
        self.summary.headed += len(missing)
        for archive in missing:
            self._digests[(archive.key, archive.etag)] = digests[archive.key]

    def _read_new(self, listed: list[ListedArchive]) -> list[Entry]:
        """Download and read archives not covered by a trusted entry (in parallel).

        Results are cached by (key, ETag): a retry after a conflict downloads nothing twice."""
        todo = [a for a in listed if (a.key, a.etag) not in self._read]
        if todo:
            with ThreadPoolExecutor(max_workers=min(_DOWNLOAD_WORKERS, len(todo))) as pool:
                for archive, result in zip(todo, pool.map(self._read_archive, todo), strict=True):
                    self._read[(archive.key, archive.etag)] = result
            self.summary.downloaded += len(todo)
        entries = []
        for archive in listed:
            result = self._read[(archive.key, archive.etag)]
            if result.entry is not None:
                entries.append(result.entry)
            elif result.problem:
                self.summary.ignored.append(f"{archive.key}: {result.problem}")
        return entries

    def _read_archive(self, archive: ListedArchive) -> ReadArchive:
        data = self.store.read_archive(archive.key)
        try:
            metadata = helm_sdk.chart_metadata(data)
        except helm_sdk.HelmError as error:
            return ReadArchive(entry=None, problem=str(error))
        with tempfile.TemporaryDirectory(prefix="berth-reindex-") as workdir:
            path = Path(workdir) / "chart.tgz"
            path.write_bytes(data)
            digest = bare_digest(helm_sdk.digest(path))
        created = rfc3339_nano(int(archive.last_modified.timestamp() * 1_000_000_000))
        return ReadArchive(
            entry=chart_entry(metadata, digest=digest, created=created, url=archive.key)
        )


def _label(entry: Entry) -> str:
    return f"{entry.get('name')} {entry.get('version')}"


def _relative(entry: Entry, key: str) -> Entry:
    """The entry with a relative URL, so one bucket serves over s3://, HTTPS or a proxy."""
    if entry.get("urls") == [key]:
        return entry
    return {**entry, "urls": [key]}


def _without_duplicates(entries: list[Entry], summary: ReindexSummary) -> list[Entry]:
    """One entry per chart version; the archive named NAME-VERSION.tgz wins over stray copies."""
    chosen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        ident = (str(entry["name"]), str(entry["version"]))
        current = chosen.get(ident)
        canonical = f"{ident[0]}-{ident[1]}.tgz"
        if current is None or (
            entry_archive_key(entry) == canonical and entry_archive_key(current) != canonical
        ):
            if current is not None:
                summary.ignored.append(f"{entry_archive_key(current)}: duplicate of {canonical}")
            chosen[ident] = entry
        else:
            summary.ignored.append(f"{entry_archive_key(entry)}: duplicate of {canonical}")
    return list(chosen.values())


def reindex_store(
    store: ChartStore, *, out: TextIO | None = None, policy: RetryPolicy | None = None
) -> ReindexSummary:
    """Bring index.yaml in line with the bucket's archives (conditional write, retried)."""
    out = sys.stdout if out is None else out
    reindexer = _Reindexer(store)
    result = update_index(store, reindexer.rebuild, out=out, policy=policy)
    reindexer.remember()
    summary = reindexer.summary
    summary.written, summary.retries = result.written, result.retries
    if not result.written:
        summary.kept, summary.added, summary.removed = len(result.index), [], []
        summary.refreshed = []
    for label in summary.added:
        print(f"  added {label}", file=out)
    for label in summary.refreshed:
        print(f"  refreshed {label} (its archive changed)", file=out)
    for label in summary.removed:
        print(f"  removed {label} (archive missing or changed)", file=out)
    for problem in summary.ignored:
        print(f"  ignored {problem}", file=out)
    print(summary.describe(), file=out)
    return summary


def reindex_repo(
    env: Environment, *, out: TextIO | None = None, client: Any | None = None
) -> ReindexSummary:
    """`reindex_store` on an environment's Helm repo bucket."""
    out = sys.stdout if out is None else out
    store = store_for(env, client)
    print(f"Reindexing {store.location}/{INDEX_KEY} ({env.name})", file=out)
    return reindex_store(store, out=out)


__all__ = ["ChartRepoError", "ReindexSummary", "reindex_repo", "reindex_store"]
