"""`berth charts promote NAME VERSION --from ENV --to ENV`: the exact archive, indexed in the target.

Promotion is publishing without rebuilding: the archive that the source repository's index
names is downloaded, its sha256 must equal the digest of the source's index entry, and those
very bytes are uploaded to the target with the same guarantees as `publish`:

- the archive goes up first, with `If-None-Match: *` (a version is never replaced) and its
  sha256 as `x-amz-checksum-sha256` (S3 refuses bytes that differ from the digest);
- only then is the source's entry (same metadata, digest and `created`, a relative URL) added
  to the target's index.yaml by conditional read-modify-write (`If-Match`, bounded retries).

Promoting a version the target already holds with the same digest does nothing and succeeds,
so a re-run (or two promoters at once) is safe; a different digest under the same version is
refused: versions are immutable.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from berth.chart_repo.index import (
    INDEX_KEY,
    Entry,
    RepoIndex,
    archive_name,
    entry_archive_key,
    with_entry,
)
from berth.chart_repo.store import (
    ArchiveExistsError,
    ChartRepoError,
    ChartStore,
    RetryPolicy,
    store_for,
    update_index,
)
from berth_core.config import Environment


@dataclass(frozen=True)
class PromoteSummary:
    """What one promotion did."""

    label: str
    source: str
    target: str
    digest: str
    # False: the target already held this very archive (nothing uploaded).
    uploaded: bool
    # False: the target's index already listed it.
    indexed: bool
    index_retries: int

    def describe(self) -> str:
        if not self.uploaded and not self.indexed:
            return f"{self.label}: already in {self.target} (sha256:{self.digest[:12]})"
        return f"{self.label}: promoted {self.source} -> {self.target} (sha256:{self.digest[:12]})"


def _sha256(data: bytes) -> str:
    # Helm's index digest is the archive's plain sha256, hex (`helm repo index`).
    return hashlib.sha256(data).hexdigest()


def _source_archive(source: ChartStore, name: str, version: str) -> tuple[Entry, str, bytes]:
    """The source's index entry, its archive key and the archive, checked against each other."""
    label = f"{name} {version}"
    entry = source.read_index().index.find(name, version)
    if entry is None:
        raise ChartRepoError(f"{label}: not in {source.location}/{INDEX_KEY}")
    key = entry_archive_key(entry) or archive_name(name, version)
    claimed = str(entry.get("digest") or "")
    if not claimed:
        raise ChartRepoError(f"{label}: the entry in {source.location}/{INDEX_KEY} has no digest")
    data = source.read_archive(key)
    actual = _sha256(data)
    if actual != claimed:
        raise ChartRepoError(
            f"{label}: {source.location}/{key} does not match its index entry"
            f" (index sha256:{claimed[:12]}, archive sha256:{actual[:12]}); nothing promoted"
        )
    return entry, key, data


def promote_between(
    source: ChartStore,
    target: ChartStore,
    name: str,
    version: str,
    *,
    out: TextIO | None = None,
    policy: RetryPolicy | None = None,
) -> PromoteSummary:
    """Copy NAME VERSION's archive from `source` to `target` (digest checked), then index it."""
    out = sys.stdout if out is None else out
    label = f"{name} {version}"
    entry, key, data = _source_archive(source, name, version)
    digest = str(entry["digest"])
    uploaded = True
    try:
        target.put_archive(key, data, digest, overwrite=False)
        print(f"  {label}: uploaded {target.location}/{key} (sha256:{digest[:12]})", file=out)
    except ArchiveExistsError:
        uploaded = False
        present = _sha256(target.read_archive(key))
        if present != digest:
            raise ChartRepoError(
                f"{label}: {target.location}/{key} already holds another archive"
                f" (sha256:{present[:12]}, promoting sha256:{digest[:12]}); versions are"
                " immutable: bump the chart version"
            ) from None
        print(f"  {label}: {target.location}/{key} already holds this archive", file=out)
    # The copied bytes, read back from the target, must carry the source entry's digest too
    # (S3 checked the sha256 on upload; this shows it, on any S3-compatible store).
    if uploaded and _sha256(target.read_archive(key)) != digest:
        raise ChartRepoError(f"{label}: {target.location}/{key} does not hold the promoted bytes")
    promoted = {**entry, "urls": [key]}

    def add(index: RepoIndex) -> RepoIndex | None:
        existing = index.find(name, version)
        if existing is None:
            return with_entry(index, promoted)
        if existing.get("digest") != digest:
            raise ChartRepoError(
                f"{label}: {target.location}/{INDEX_KEY} lists it with another digest"
                f" (sha256:{str(existing.get('digest'))[:12]}); versions are immutable"
            )
        return None

    result = update_index(target, add, out=out, policy=policy)
    if result.written:
        print(f"  {INDEX_KEY}: added {label}, {len(result.index)} version(s) in all", file=out)
    summary = PromoteSummary(
        label=label,
        source=source.location,
        target=target.location,
        digest=digest,
        uploaded=uploaded,
        indexed=result.written,
        index_retries=result.retries,
    )
    print(summary.describe(), file=out)
    return summary


def promote_chart(
    source_env: Environment,
    target_env: Environment,
    name: str,
    version: str,
    *,
    source_client: Any | None = None,
    target_client: Any | None = None,
    out: TextIO | None = None,
) -> PromoteSummary:
    """`promote_between` the own repositories of two environments."""
    out = sys.stdout if out is None else out
    if source_env.name == target_env.name:
        raise ChartRepoError(f"--from and --to both name {source_env.name}")
    source = store_for(source_env, source_client)
    target = store_for(target_env, target_client)
    print(
        f"Promoting {name} {version} from {source.location} ({source_env.name})"
        f" to {target.location} ({target_env.name})",
        file=out,
    )
    return promote_between(source, target, name, version, out=out)


__all__ = ["PromoteSummary", "promote_between", "promote_chart"]
