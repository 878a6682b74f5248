"""`berth charts publish`: lint, package, upload the archive, then add it to index.yaml.

Order matters: the archive goes up first (`If-None-Match: *`, so a version is never replaced
by accident), and only then does the index learn about it (conditional read-modify-write). A
publish interrupted in between leaves an unindexed archive, which `verify` reports and
`reindex` adopts; it never leaves an index entry pointing at nothing.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from berth import helm_sdk
from berth.chart_repo.index import (
    INDEX_KEY,
    RepoIndex,
    archive_name,
    bare_digest,
    chart_entry,
    rfc3339_nano,
    with_entries,
)
from berth.chart_repo.store import (
    ArchiveExistsError,
    ChartRepoError,
    ChartStore,
    RetryPolicy,
    store_for,
    update_index,
)
from berth_core.config import PROJECT_ROOT, Environment

CHARTS_DIR = PROJECT_ROOT / "charts"


@dataclass(frozen=True)
class PackagedChart:
    """A linted, packaged chart ready for upload."""

    name: str
    version: str
    archive: Path
    digest: str  # bare sha256 hex, as index entries hold it
    metadata: dict[str, Any]

    @property
    def key(self) -> str:
        return archive_name(self.name, self.version)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass
class PublishSummary:
    """What one publish run did, for the terminal and for callers such as `berth up`."""

    location: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    index_retries: int = 0
    # Versions whose archive is in the bucket but not in index.yaml (an interrupted publish).
    unindexed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    def describe(self) -> str:
        line = (
            f"{len(self.uploaded)} uploaded, {len(self.skipped)} skipped,"
            f" {len(self.refused)} refused, {self.index_retries} index retries"
        )
        return f"{self.location}: {line}"


def discover_charts(root: Path = CHARTS_DIR) -> list[Path]:
    """Every directory under `root` holding a Chart.yaml, sorted by name."""
    charts = sorted(path.parent for path in root.glob("*/Chart.yaml"))
    if not charts:
        raise ChartRepoError(f"{root}: no charts (directories with a Chart.yaml)")
    return charts


def package_chart(chart_dir: Path, destination: Path, *, out: TextIO) -> PackagedChart:
    """Lint (errors stop the publish, warnings are shown) and package one chart directory."""
    if not (chart_dir / "Chart.yaml").is_file():
        raise ChartRepoError(f"{chart_dir}: not a chart directory (no Chart.yaml)")
    report = helm_sdk.lint(chart_dir)
    for warning in report.warnings:
        print(f"  {chart_dir}: lint warning: {warning}", file=out)
    if not report.ok:
        raise ChartRepoError(f"{chart_dir}: helm lint failed: {'; '.join(report.errors)}")
    try:
        archive = helm_sdk.package(chart_dir, destination)
        metadata = helm_sdk.chart_metadata(chart_dir)
    except helm_sdk.HelmError as error:
        raise ChartRepoError(str(error)) from None
    packaged = PackagedChart(
        name=str(metadata["name"]),
        version=str(metadata["version"]),
        archive=archive,
        digest=bare_digest(helm_sdk.digest(archive)),
        metadata=metadata,
    )
    print(f"  {packaged.label}: lint ok, packaged (sha256:{packaged.digest[:12]})", file=out)
    return packaged


def upload_archives(
    store: ChartStore,
    charts: Sequence[PackagedChart],
    summary: PublishSummary,
    *,
    force: bool,
    skip_existing: bool,
    out: TextIO,
) -> list[PackagedChart]:
    """Upload each archive (immutable unless `force`); returns the charts that went up."""
    uploaded = []
    for chart in charts:
        try:
            store.put_archive(chart.key, chart.archive.read_bytes(), chart.digest, overwrite=force)
        except ArchiveExistsError:
            if skip_existing:
                summary.skipped.append(chart.label)
                print(f"  {chart.label}: skipped (already in {store.location})", file=out)
            else:
                summary.refused.append(chart.label)
                print(f"  {chart.label}: REFUSED: {chart.key} already exists", file=out)
            continue
        verb = "replaced" if force else "uploaded"
        print(f"  {chart.label}: {verb} {store.location}/{chart.key}", file=out)
        summary.uploaded.append(chart.label)
        uploaded.append(chart)
    return uploaded


def publish_packaged(
    store: ChartStore,
    charts: Sequence[PackagedChart],
    *,
    force: bool = False,
    skip_existing: bool = False,
    out: TextIO | None = None,
    policy: RetryPolicy | None = None,
) -> PublishSummary:
    """Upload packaged charts, then add them to index.yaml in one conditional update."""
    out = sys.stdout if out is None else out
    summary = PublishSummary(location=store.location)
    uploaded = upload_archives(
        store, charts, summary, force=force, skip_existing=skip_existing, out=out
    )
    existing = [c for c in charts if c not in uploaded]
    created = rfc3339_nano()
    entries = [
        chart_entry(c.metadata, digest=c.digest, created=created, url=c.key) for c in uploaded
    ]

    def add_uploaded(index: RepoIndex) -> RepoIndex | None:
        summary.unindexed = [c.label for c in existing if index.find(c.name, c.version) is None]
        return with_entries(index, entries) if entries else None

    result = update_index(store, add_uploaded, out=out, policy=policy)
    summary.index_retries = result.retries
    if result.written:
        print(
            f"  {INDEX_KEY}: added {len(entries)} version(s), {len(result.index)} in all", file=out
        )
    for label in summary.unindexed:
        print(
            f"  {label}: the archive is in the bucket but not in {INDEX_KEY}"
            " (an interrupted publish?): run `berth charts reindex`",
            file=out,
        )
    return summary


def publish_charts(
    env: Environment,
    chart_dirs: Sequence[Path] | None = None,
    *,
    force: bool = False,
    skip_existing: bool = False,
    out: TextIO | None = None,
    client: Any | None = None,
    policy: RetryPolicy | None = None,
) -> PublishSummary:
    """Publish chart directories (default: every chart in `charts/`) to the env's repo bucket.

    Everything is linted and packaged before anything is uploaded, so a lint error changes
    nothing. Returns the summary; `summary.ok` is False when a version was refused.
    """
    out = sys.stdout if out is None else out
    dirs = list(chart_dirs) if chart_dirs else discover_charts()
    store = store_for(env, client)
    print(f"Publishing {len(dirs)} chart(s) to {store.location} ({env.name})", file=out)
    with tempfile.TemporaryDirectory(prefix="berth-charts-") as workdir:
        charts = [package_chart(d, Path(workdir) / str(i), out=out) for i, d in enumerate(dirs)]
        _refuse_duplicates(charts)
        summary = publish_packaged(
            store, charts, force=force, skip_existing=skip_existing, out=out, policy=policy
        )
    print(summary.describe(), file=out)
    return summary


def _refuse_duplicates(charts: Sequence[PackagedChart]) -> None:
    seen: set[str] = set()
    for chart in charts:
        if chart.key in seen:
            raise ChartRepoError(f"{chart.label}: given twice (two directories, same version)")
        seen.add(chart.key)
