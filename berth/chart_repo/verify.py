"""`berth charts verify`: does index.yaml tell the truth about the bucket?

Every entry must point (by a relative URL) at an archive that exists with the digest the entry
claims, and every archive must be indexed. Digests are checked from the metadata recorded at
upload (HEAD); archives without it, or with a different one, are downloaded and hashed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from berth import helm_sdk
from berth.chart_repo.index import INDEX_KEY, bare_digest, entry_archive_key, is_relative_url
from berth.chart_repo.store import ChartRepoError, ChartStore, store_for
from berth_core.config import Environment


def _downloaded_digest(store: ChartStore, key: str) -> str:
    with tempfile.TemporaryDirectory(prefix="berth-verify-") as workdir:
        path = Path(workdir) / "chart.tgz"
        path.write_bytes(store.read_archive(key))
        return bare_digest(helm_sdk.digest(path))


def verify_store(store: ChartStore, *, deep: bool = False) -> list[str]:
    """Problems found, one line each; empty when index and archives agree.

    `deep` downloads and hashes every indexed archive instead of trusting upload metadata.
    """
    try:
        snapshot = store.read_index()
    except ChartRepoError as error:
        return [str(error)]
    archives = store.list_archives()
    problems: list[str] = []
    if snapshot.etag is None and archives:
        problems.append(f"{store.location}/{INDEX_KEY}: missing")
    entries = list(snapshot.index.all_entries())
    keys = [entry_archive_key(e) for e in entries]
    listed = sorted({k for k in keys if k is not None and k in archives})
    recorded = {} if deep else store.archive_digests(listed)
    indexed: set[str] = set()
    for entry, key in zip(entries, keys, strict=True):
        label = f"{entry['name']} {entry['version']}"
        if key is None:
            problems.append(f"{label}: entry has no url")
            continue
        indexed.add(key)
        if not is_relative_url(entry["urls"][0]):
            problems.append(
                f"{label}: url {entry['urls'][0]} is absolute (reindex makes it relative)"
            )
        if key not in archives:
            problems.append(f"{label}: archive {key} is missing")
            continue
        claimed = entry.get("digest")
        if not claimed:
            problems.append(f"{label}: entry has no digest")
            continue
        if recorded.get(key) != claimed:
            actual = _downloaded_digest(store, key)
            if actual != claimed:
                problems.append(
                    f"{label}: digest mismatch (index {claimed[:12]}, archive {actual[:12]})"
                )
    problems.extend(
        f"{key}: archive is not in {INDEX_KEY}" for key in sorted(archives) if key not in indexed
    )
    return problems


def verify_repo(env: Environment, *, client: Any | None = None, deep: bool = False) -> list[str]:
    """`verify_store` on an environment's Helm repo bucket."""
    return verify_store(store_for(env, client), deep=deep)
