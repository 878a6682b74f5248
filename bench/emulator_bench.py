"""Benchmark: what Berth's emulator costs over plain moto server.

Goals: start-to-ready within 1.5x of `python -m moto.server` (the emulator imports and checks
the moto internals it uses before serving); S3 requests, which only pass through its
middleware, at >= 0.9x moto's rate. Anchor: plain moto server, measured in the same run on the
same machine, the two alternating (which goes first too) so a shared machine's load falls on
both alike. AppConfig rows (moto's GetApplication through the middleware, the emulator's own
GetEnvironment) are for reference: no goal.

    .venv/bin/python bench/emulator_bench.py [--starts 7] [--requests 200] [--rounds 7]

Prints medians and, per row, the median of the emulator/moto ratios of paired samples.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from berth.local import (  # noqa: E402
    EMULATOR_CREDENTIALS,
    LOOPBACK,
    free_loopback_port,
    stop_process,
)

MOTO, OURS = "moto.server", "berth.emulator"
START_GOAL = 1.5
REQUEST_GOAL = 0.9


@contextmanager
def serve(module: str) -> Iterator[tuple[str, float]]:
    """`python -m MODULE -H 127.0.0.1 -p PORT`: (endpoint, seconds until it answered)."""
    port = free_loopback_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **EMULATOR_CREDENTIALS},
        cwd=ROOT,
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{module} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.02)
        yield endpoint, time.perf_counter() - started
    finally:
        stop_process(process)


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _prepare(endpoint: str) -> dict[str, Callable[[], Any]]:
    """The calls measured on one server, their data created and each called once."""
    s3 = _client("s3", endpoint)
    s3.create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="bench", Key="index.yaml", Body=b"apiVersion: v1\n" * 64)
    appconfig = _client("appconfig", endpoint)
    application = appconfig.create_application(Name="bench")["Id"]
    calls: dict[str, Callable[[], Any]] = {
        "S3 HeadObject (req/s)": lambda: s3.head_object(Bucket="bench", Key="index.yaml"),
        "AppConfig GetApplication (req/s)": lambda: appconfig.get_application(
            ApplicationId=application
        ),
    }
    try:
        environment = appconfig.create_environment(ApplicationId=application, Name="b")["Id"]
        calls["AppConfig GetEnvironment (req/s)"] = lambda: appconfig.get_environment(
            ApplicationId=application, EnvironmentId=environment
        )
    except ClientError:  # plain moto has no environments
        pass
    for call in calls.values():
        call()  # connection and first-use costs out of the measurement
    return calls


def _rate(call: Callable[[], Any], requests: int) -> float:
    """Requests per second of `requests` serial calls."""
    started = time.perf_counter()
    for _ in range(requests):
        call()
    return requests / (time.perf_counter() - started)


def measure(starts: int, requests: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Samples per server and row, the servers alternating."""
    samples: dict[str, dict[str, list[float]]] = {MOTO: {}, OURS: {}}
    for index in range(starts):
        for module in (MOTO, OURS) if index % 2 == 0 else (OURS, MOTO):
            with serve(module) as (_, seconds):
                samples[module].setdefault("start (s)", []).append(seconds)
    with serve(MOTO) as (moto, _), serve(OURS) as (ours, _):
        calls = {MOTO: _prepare(moto), OURS: _prepare(ours)}
        for index in range(rounds):
            for module in (MOTO, OURS) if index % 2 == 0 else (OURS, MOTO):
                for row, call in calls[module].items():
                    samples[module].setdefault(row, []).append(_rate(call, requests))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    samples = measure(args.starts, args.requests, args.rounds)
    goals: dict[str, tuple[Callable[[float], bool], str]] = {
        "start (s)": (lambda ratio: ratio <= START_GOAL, f"<= {START_GOAL}x"),
        "S3 HeadObject (req/s)": (lambda ratio: ratio >= REQUEST_GOAL, f">= {REQUEST_GOAL}x"),
    }
    header = f"{'median':<34} {MOTO:>12} {OURS:>15} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for row, values in samples[OURS].items():
        anchor = samples[MOTO].get(row)
        # The median of the paired ratios (same round), steadier than a ratio of medians.
        ratio = (
            statistics.median(mine / theirs for mine, theirs in zip(values, anchor, strict=True))
            if anchor
            else float("nan")
        )
        check, label = goals.get(row, (lambda _: True, "-"))
        verdict = "" if label == "-" else (" ok" if check(ratio) else " MISSED")
        print(
            f"{row:<34} {statistics.median(anchor) if anchor else float('nan'):>12.2f}"
            f" {statistics.median(values):>15.2f} {ratio:>7.2f}  {label}{verdict}"
        )


if __name__ == "__main__":
    main()
