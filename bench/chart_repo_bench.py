"""Chart repository benchmark: publish into, promote into, and reindex, a repository of 5,000
chart versions.

Runs against its own moto server on loopback (moto is a slow Python server, so S3 time here is
pessimistic). S3 requests are counted with a botocore `before-send` hook, by HTTP method.

    .venv/bin/python bench/chart_repo_bench.py [--entries 5000]

The 5,000 existing versions share one real archive's bytes under 5,000 keys, each with its
digest recorded as upload metadata: reindex trusts them by HEAD and must not download them.
Goals: publish < 2 s; promote (from that repository into another of 5,000 versions, below a
prefix) < 2 s, with the publish of the same run as its anchor; reindex GETs only index.yaml and
the one new archive (plus LIST pages, which are GETs too, and its remembered-digests file).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
import yaml
from botocore.config import Config

from berth.chart_repo.index import (
    chart_entry,
    from_entries,
    parse_index,
    rfc3339_nano,
    serialise_index,
)
from berth.chart_repo.promote import promote_between
from berth.chart_repo.publish import package_chart, publish_packaged
from berth.chart_repo.reindex import reindex_store
from berth.chart_repo.store import ChartStore
from berth.chart_repo.verify import verify_store
from berth.local import EMULATOR_CREDENTIALS, MotoServer

BUCKET = "bench-helm-charts"
TARGET_BUCKET = "bench-helm-charts-prod"


def write_chart(root: Path, name: str, version: str) -> Path:
    chart = root / f"{name}-{version}" / name
    (chart / "templates").mkdir(parents=True)
    metadata = {"apiVersion": "v2", "name": name, "version": version, "description": "bench"}
    (chart / "Chart.yaml").write_text(yaml.safe_dump(metadata))
    (chart / "values.yaml").write_text("# -- Greeting.\ngreeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


class Requests:
    """Counts HTTP requests a client sends, by method."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.archive_gets = 0
        client.meta.events.register("before-send.s3", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        self.counts[request.method] += 1
        path = request.url.split("?", 1)[0]
        if request.method == "GET" and path.endswith(".tgz"):
            self.archive_gets += 1

    def describe(self) -> str:
        return " ".join(f"{method}={n}" for method, n in sorted(self.counts.items()))

    def reset(self) -> None:
        self.counts.clear()
        self.archive_gets = 0


Result = tuple[str, float, float, str]


@contextmanager
def timed(results: list[Result], label: str, detail: Callable[[], str]) -> Iterator[None]:
    """Wall time and this process's CPU time (moto's own CPU is not in it)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    yield
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    results.append((label, wall, cpu, detail()))


def seed_repository(
    client: Any, store: ChartStore, archive: bytes, digest: str, count: int
) -> None:
    """`count` versions: archives with digest metadata, and an index listing them all."""
    keys = [f"chart{i % 100}-1.{i}.0.tgz" for i in range(count)]

    def put(key: str) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=archive, Metadata={"digest": digest})

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, keys))
    created = rfc3339_nano()
    entries = [
        chart_entry(
            {
                "apiVersion": "v2",
                "name": f"chart{i % 100}",
                "version": f"1.{i}.0",
                "description": "bench",
                "type": "application",
            },
            digest=digest,
            created=created,
            url=key,
        )
        for i, key in enumerate(keys)
    ]
    store.write_index(from_entries(entries), None)


def print_table(results: list[Result]) -> None:
    """The measurements, then promotion against the publish of the same run."""
    print()
    print(f"{'operation':<46} {'wall s':>7} {'CPU s':>6}  S3 requests")
    print(f"{'-' * 46} {'-' * 7} {'-' * 6}  {'-' * 40}")
    for label, wall, cpu, detail in results:
        print(f"{label:<46} {wall:>7.2f} {cpu:>6.2f}  {detail}")
    walls = {label.split(" ", 1)[0]: wall for label, wall, _, _ in results}
    print(
        f"\npromote / publish (same run): {walls['promote'] / walls['publish']:.2f}"
        f" (goal: promote < 2 s: {'met' if walls['promote'] < 2 else 'MISSED'})"
    )
    print(f"(cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    os.environ.update(EMULATOR_CREDENTIALS)
    results: list[Result] = []
    with MotoServer() as moto, tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir)
        config = Config(max_pool_connections=32)
        client = boto3.client(
            "s3", endpoint_url=moto.endpoint_url, region_name="eu-west-1", config=config
        )
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        store = ChartStore(client, BUCKET)
        quiet = io.StringIO()
        seed = package_chart(write_chart(root, "seed", "1.0.0"), root / "seed", out=quiet)
        started = time.perf_counter()
        seed_repository(client, store, seed.archive.read_bytes(), seed.digest, args.entries)
        print(f"seeded {args.entries} versions in {time.perf_counter() - started:.1f} s")

        index_bytes = client.get_object(Bucket=BUCKET, Key="index.yaml")["Body"].read()
        requests = Requests(client)
        with timed(results, "parse index.yaml (CPU only)", lambda: f"{len(index_bytes):,} bytes"):
            parsed = parse_index(index_bytes)
        with timed(results, "serialise index.yaml (CPU only)", lambda: f"{len(parsed)} entries"):
            serialise_index(parsed)

        chart_dir = write_chart(root, "newchart", "2.0.0")
        with timed(results, "publish 1 chart (lint+package+upload+index)", requests.describe):
            packaged = package_chart(chart_dir, root / "new", out=quiet)
            publish_packaged(store, [packaged], out=quiet)

        # The promotion target: another repository of as many versions, below a prefix.
        client.create_bucket(
            Bucket=TARGET_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        target = ChartStore(client, TARGET_BUCKET, "charts/")
        target.write_index(parsed, None)
        requests.reset()
        with timed(results, "promote 1 chart (check+copy+read back+index)", requests.describe):
            promoted = promote_between(store, target, "newchart", "2.0.0", out=quiet)
        assert promoted.uploaded and promoted.indexed, promoted

        for run, (name, label) in enumerate(
            [
                ("unindexed", "reindex, 1 new archive, first run (HEADs all)"),
                ("another", "reindex, 1 new archive, digests remembered"),
            ]
        ):
            extra = package_chart(write_chart(root, name, "3.0.0"), root / f"x{run}", out=quiet)
            client.put_object(
                Bucket=BUCKET,
                Key=extra.key,
                Body=extra.archive.read_bytes(),
                Metadata={"digest": extra.digest},
            )
            requests.reset()
            with timed(
                results,
                label,
                lambda: f"{requests.describe()} (archive GETs={requests.archive_gets})",
            ):
                summary = reindex_store(store, out=quiet)
            assert summary.added == [f"{name} 3.0.0"], summary

        requests.reset()
        with timed(results, "reindex, nothing changed", requests.describe):
            reindex_store(store, out=quiet)

        requests.reset()
        with timed(results, "verify", requests.describe):
            problems = verify_store(store)
        assert problems == [], problems[:5]

    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
