"""The entry point: configuration errors, `--once`, and the long-running process with probes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from appconfig_fetch.cli import main
from appconfig_fetch.config import load_config
from appconfig_fetch.fetcher import Fetcher, FetchError, build_client
from appconfig_fetch.output import write_atomically
from appconfigdata_fake import CANARY, FakeAppConfigData

from berth.local import free_loopback_port

APP_DIR = Path(__file__).resolve().parents[3] / "apps" / "appconfig_fetch"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"APPCONFIG_APPLICATION": ""}, "APPCONFIG_APPLICATION: required, not set"),
        ({"APPCONFIG_ENVIRONMENT": None}, "APPCONFIG_ENVIRONMENT: required, not set"),
        ({"APPCONFIG_PROFILE": "  "}, "APPCONFIG_PROFILE: required, not set"),
        ({"AWS_REGION": None}, "AWS_REGION: required, not set (nor AWS_DEFAULT_REGION)"),
        ({"APPCONFIG_FETCH_OUTPUT": None}, "APPCONFIG_FETCH_OUTPUT: required, not set"),
        ({"APPCONFIG_FETCH_OUTPUT": "key.txt"}, "APPCONFIG_FETCH_OUTPUT: must be an absolute path"),
        ({"APPCONFIG_FETCH_OUTPUT": "/no/such/dir/key"}, "directory /no/such/dir does not exist"),
        (
            {"APPCONFIG_POLL_INTERVAL_SECONDS": "5"},
            "APPCONFIG_POLL_INTERVAL_SECONDS: must be between 15",
        ),
        (
            {"APPCONFIG_POLL_INTERVAL_SECONDS": "1m"},
            "APPCONFIG_POLL_INTERVAL_SECONDS: must be an integer",
        ),
        (
            {"APPCONFIG_FETCH_HEALTH_PORT": "70000"},
            "APPCONFIG_FETCH_HEALTH_PORT: must be between 0",
        ),
        (
            {"APPCONFIG_FETCH_MAX_BACKOFF_SECONDS": "0"},
            "APPCONFIG_FETCH_MAX_BACKOFF_SECONDS: must be",
        ),
        ({"APPCONFIG_FETCH_LOG_LEVEL": "LOUD"}, "APPCONFIG_FETCH_LOG_LEVEL: must be one of"),
    ],
)
def test_configuration_errors_are_one_line_naming_the_variable(
    fetch_env: dict[str, str],
    change: dict[str, str | None],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {**fetch_env}
    for name, value in change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    assert main(["--once"], env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("appconfig-fetch: configuration error: ")
    assert expected in err


def test_default_region_is_accepted_when_aws_region_is_unset(fetch_env: dict[str, str]) -> None:
    env = {k: v for k, v in fetch_env.items() if k != "AWS_REGION"}
    assert load_config({**env, "AWS_DEFAULT_REGION": "ap-south-1"}).region == "ap-south-1"


def _run_module(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appconfig_fetch", *args],
        cwd=APP_DIR,
        env={**env, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(APP_DIR)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_once_writes_and_exits_zero(fetch_env: dict[str, str]) -> None:
    result = _run_module({**fetch_env, "APPCONFIG_FETCH_LOG_LEVEL": "DEBUG"}, "--once")
    assert result.returncode == 0, result.stderr
    assert Path(fetch_env["APPCONFIG_FETCH_OUTPUT"]).read_text() == CANARY
    assert f"wrote {len(CANARY)} bytes (version '1'" in result.stderr
    assert CANARY not in result.stdout + result.stderr


def test_config_error_in_a_real_process_has_no_traceback(fetch_env: dict[str, str]) -> None:
    result = _run_module({**fetch_env, "APPCONFIG_PROFILE": ""}, "--once")
    assert result.returncode == 1
    assert (
        result.stderr
        == "appconfig-fetch: configuration error: APPCONFIG_PROFILE: required, not set\n"
    )


def test_aws_refusal_exits_one_with_one_line(fetch_env: dict[str, str]) -> None:
    result = _run_module({**fetch_env, "APPCONFIG_ENVIRONMENT": "prod"}, "--once")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "ERROR" in line and "StartConfigurationSession: ResourceNotFoundException" in line


def test_once_retries_throttling_then_gives_up(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    config = load_config({**fetch_env, "APPCONFIG_FETCH_ONCE_MAX_ATTEMPTS": "3"})
    delays: list[float] = []
    appconfigdata.get_failures = [(429, "ThrottlingException")] * 2
    Fetcher(config, build_client(config), sleep=delays.append, jitter=lambda: 1.0).run_once()
    assert delays == [1.0, 2.0]
    assert Path(fetch_env["APPCONFIG_FETCH_OUTPUT"]).read_text() == CANARY

    appconfigdata.get_failures = [(429, "ThrottlingException")] * 3
    fetcher = Fetcher(config, build_client(config), sleep=delays.append, jitter=lambda: 1.0)
    with pytest.raises(FetchError, match=r"gave up after 3 attempts: .*ThrottlingException"):
        fetcher.run_once()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


def test_long_running_process_gets_ready_and_stops_on_sigterm(fetch_env: dict[str, str]) -> None:
    port = free_loopback_port()
    env = {
        **fetch_env,
        "APPCONFIG_FETCH_HEALTH_PORT": str(port),
        "APPCONFIG_FETCH_HEALTH_ADDRESS": "127.0.0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "appconfig_fetch"],
        cwd=APP_DIR,
        env={**env, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(APP_DIR)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while _status(f"http://127.0.0.1:{port}/readyz") != 200:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.05)
        assert Path(fetch_env["APPCONFIG_FETCH_OUTPUT"]).read_text() == CANARY
        assert _status(f"http://127.0.0.1:{port}/healthz") == 200
        # It now waits 15 s before the next poll; SIGTERM must cut that wait short.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert CANARY not in (process.stderr.read() if process.stderr else "")


def test_atomic_write_replaces_the_file_instead_of_rewriting_it(tmp_path: Path) -> None:
    target = tmp_path / "private-key"
    write_atomically(target, b"old-value")
    with target.open("rb") as reader:  # a reader that opened the old file...
        write_atomically(target, b"new-value")
        assert reader.read() == b"old-value"  # ...still sees a whole old file, never a torn one
    assert target.read_bytes() == b"new-value"
    assert oct(target.stat().st_mode & 0o777) == "0o400"
    assert [p.name for p in tmp_path.iterdir()] == ["private-key"]


def test_atomic_write_leaves_no_temporary_file_on_failure(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "private-key"
    with pytest.raises(FileNotFoundError):
        write_atomically(missing, b"value")
    assert list(tmp_path.iterdir()) == []
