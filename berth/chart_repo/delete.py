"""`berth charts delete NAME VERSION`: take a version out of index.yaml, then delete its archive.

Index first: a client must never be offered a version whose archive is gone. If the run stops
between the two steps, the archive is merely unindexed (verify reports it; reindex would list
it again, so delete again). The versioned bucket keeps the archive as a noncurrent version.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

from berth.chart_repo.index import (
    INDEX_KEY,
    RepoIndex,
    archive_name,
    entry_archive_key,
    without_entry,
)
from berth.chart_repo.store import ChartRepoError, ChartStore, RetryPolicy, store_for, update_index
from berth_core.config import Environment


@dataclass(frozen=True)
class DeleteSummary:
    """What `delete` removed."""

    label: str
    removed_from_index: bool
    deleted_archive: str | None


def delete_from_store(
    store: ChartStore,
    name: str,
    version: str,
    *,
    out: TextIO | None = None,
    policy: RetryPolicy | None = None,
) -> DeleteSummary:
    """Remove NAME VERSION from the index (conditional write, retried), then its archive."""
    out = sys.stdout if out is None else out
    label = f"{name} {version}"
    found_keys: list[str] = []

    def remove(index: RepoIndex) -> RepoIndex | None:
        entry = index.find(name, version)
        found_keys.clear()
        if entry is None:
            return None
        found_keys.append(entry_archive_key(entry) or archive_name(name, version))
        return without_entry(index, name, version)

    result = update_index(store, remove, out=out, policy=policy)
    if result.written:
        print(f"  {label}: removed from {INDEX_KEY}", file=out)
    key = found_keys[0] if found_keys else archive_name(name, version)
    if not store.archive_exists(key):
        if not result.written:
            raise ChartRepoError(f"{label}: not in {store.location} (neither indexed nor uploaded)")
        print(f"  {label}: archive {key} was already gone", file=out)
        return DeleteSummary(label=label, removed_from_index=True, deleted_archive=None)
    store.delete_archive(key)
    print(
        f"  {label}: deleted {store.location}/{key} (the versioned bucket keeps a noncurrent copy)",
        file=out,
    )
    return DeleteSummary(label=label, removed_from_index=result.written, deleted_archive=key)


def delete_chart(
    env: Environment,
    name: str,
    version: str,
    *,
    out: TextIO | None = None,
    client: Any | None = None,
) -> DeleteSummary:
    """`delete_from_store` on an environment's Helm repo bucket."""
    out = sys.stdout if out is None else out
    store = store_for(env, client)
    print(f"Deleting {name} {version} from {store.location} ({env.name})", file=out)
    return delete_from_store(store, name, version, out=out)
