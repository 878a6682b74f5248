"""Session-wide fixtures: one moto server per xdist worker (free loopback port), one synthesis per run."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from berth import lazy_bindings
from berth.local import EMULATOR_CREDENTIALS, MotoServer

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# Before any test module imports a provider binding: load only the modules the tests use.
lazy_bindings.install()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """The apps' entry points, called in-process by their tests, configure the root logger
    (a StreamHandler on the stderr pytest swaps in and closes later). Each test gets the root
    logger back as it found it, so no later test's log record goes to a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A real moto server (AWS emulator) on loopback, shared by the session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with MotoServer(log_path=log) as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: MotoServer) -> str:
    return moto_server.endpoint_url


@pytest.fixture
def aws_session(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    """A boto3 session whose clients talk to the session's moto server (region eu-west-1)."""
    for key, value in EMULATOR_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return boto3.Session(region_name="eu-west-1")


@pytest.fixture(scope="session")
def synth_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every environment's stack, synthesized once per test run into a temp cdktf.out.

    Under xdist the workers share one synthesis: the first to get here writes it (under a lock,
    in the run's temp root that all workers share), the others read it. Tests only read it.
    """
    from berth.synth import synth_all

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        outdir = tmp_path_factory.mktemp("cdktf.out")
        synth_all(outdir=outdir)
        return outdir
    shared = tmp_path_factory.getbasetemp().parent
    outdir = shared / "cdktf.out"
    with (shared / "cdktf.out.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outdir.exists():
            partial = shared / "cdktf.out.partial"
            shutil.rmtree(partial, ignore_errors=True)
            synth_all(outdir=partial)
            partial.rename(outdir)  # complete or absent: a failed synthesis is not reused
    return outdir


@pytest.fixture(scope="session")
def synthesized(synth_outdir: Path) -> dict[str, dict[str, object]]:
    """Each stack's cdk.tf.json by environment name, without cdktf's `//` metadata."""
    from tests.support.tfjson import strip_metadata

    return {
        path.parent.name: strip_metadata(json.loads(path.read_text()))
        for path in sorted(synth_outdir.glob("stacks/*/cdk.tf.json"))
    }
