"""Benchmark: refresh 500 namespaces against the local fake Kubernetes API server.

Goal: a full refresh of 500 namespaces in < 10 s. The token comes from a real moto server's
ECR; the namespace writes go through the real kubernetes client to the fake API server used by
the tests (a threaded Werkzeug server in this process, so its own cost is part of the numbers:
a real API server is faster per request but farther away).

    .venv/bin/python bench/ecr_refresher_bench.py [--namespaces 500] [--repeat 3]

Prints one table row per scenario: median wall time, namespaces per second, and HTTP requests.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "apps" / "ecr_refresher"),
]

import boto3  # noqa: E402
from ecr_refresher.config import load_config  # noqa: E402
from ecr_refresher.metrics import Metrics  # noqa: E402
from ecr_refresher.refresher import Refresher  # noqa: E402
from kubernetes import client  # noqa: E402

from berth.local import EMULATOR_CREDENTIALS, MotoServer  # noqa: E402
from tests.support.fake_kube_api import FakeKubeApi, serve  # noqa: E402

GOAL_S = 10.0


def _refresher(url: str, ecr: object, env: dict[str, str]) -> Refresher:
    configuration = client.Configuration()
    configuration.host = url
    configuration.connection_pool_maxsize = 64
    config = load_config({"AWS_REGION": "eu-west-1", **env})
    return Refresher(config, client.CoreV1Api(client.ApiClient(configuration)), ecr, Metrics())


def run(namespaces: int, repeat: int, ecr: object) -> list[tuple[str, int, int, float, int]]:
    """Rows of (scenario, namespaces, concurrency, median seconds, requests per run)."""
    rows = []
    names = [f"team-{index:04d}" for index in range(namespaces)]
    for concurrency in (1, 8, 16):
        for scenario, extra in (
            ("create (empty cluster)", {}),
            ("update in place", {}),
            ("update + default SA check", {"ECR_REFRESHER_SERVICE_ACCOUNTS": "default"}),
        ):
            durations, requests = [], 0
            for _ in range(repeat):
                api = FakeKubeApi()
                for name in names:
                    api.add_namespace(name)
                with serve(api) as url:
                    env = {
                        "ECR_REFRESHER_ALL_NAMESPACES": "true",
                        "ECR_REFRESHER_CONCURRENCY": str(concurrency),
                        **extra,
                    }
                    if scenario != "create (empty cluster)":
                        _refresher(url, ecr, env).full_refresh()  # secrets exist beforehand
                    refresher = _refresher(url, ecr, env)
                    before = len(api.requests)
                    started = time.perf_counter()
                    report = refresher.full_refresh()
                    durations.append(time.perf_counter() - started)
                    requests = len(api.requests) - before
                    if not report.ok:
                        raise SystemExit(f"{scenario}: refresh failed: {report.failed[:5]}")
            rows.append((scenario, namespaces, concurrency, statistics.median(durations), requests))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # per-namespace log lines would time the terminal
    os.environ.update(EMULATOR_CREDENTIALS)
    with MotoServer() as moto:
        ecr = boto3.Session(region_name="eu-west-1").client("ecr", endpoint_url=moto.endpoint_url)
        rows = run(args.namespaces, args.repeat, ecr)
    header = (
        f"{'scenario':<28} {'ns':>5} {'workers':>7} {'median s':>9} {'ns/s':>7} {'reqs':>6}  goal"
    )
    print(header)
    print("-" * len(header))
    for scenario, count, workers, seconds, requests in rows:
        verdict = "ok" if seconds < GOAL_S else "SLOW"
        print(
            f"{scenario:<28} {count:>5} {workers:>7} {seconds:>9.2f} {count / seconds:>7.0f}"
            f" {requests:>6}  <{GOAL_S:.0f}s {verdict}"
        )


if __name__ == "__main__":
    main()
