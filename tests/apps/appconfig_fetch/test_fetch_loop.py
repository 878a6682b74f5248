"""The poll loop against a real local AppConfigData server, through real boto3.

Time is injected: the loop's sleep records the delays it was asked to wait, and runs the
test's checks between polls, so nothing here really waits.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from appconfig_fetch.config import load_config
from appconfig_fetch.fetcher import Fetcher, FetchError, build_client, configure_logging
from appconfig_fetch.health import HealthServer, HealthState
from appconfigdata_fake import CANARY, PROFILE_KEY, FakeAppConfigData


class ScriptedSleep:
    """Stands in for `time.sleep`: records each delay, runs a hook, stops the loop after N."""

    def __init__(self, fetcher_ref: list[Fetcher], stop_after: int) -> None:
        self.delays: list[float] = []
        self.hooks: dict[int, Callable[[], None]] = {}
        self._fetcher_ref = fetcher_ref
        self._stop_after = stop_after

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        hook = self.hooks.get(len(self.delays))
        if hook:
            hook()
        if len(self.delays) >= self._stop_after:
            self._fetcher_ref[0].stop()


def make_fetcher(
    env: dict[str, str], stop_after: int, *, state: HealthState | None = None
) -> tuple[Fetcher, ScriptedSleep]:
    """A fetcher on the fake, with a scripted sleep and jitter pinned to the top of its range."""
    config = load_config(env)
    holder: list[Fetcher] = []
    sleep = ScriptedSleep(holder, stop_after)
    fetcher = Fetcher(config, build_client(config), state=state, sleep=sleep, jitter=lambda: 1.0)
    holder.append(fetcher)
    return fetcher, sleep


def output_of(env: dict[str, str]) -> Path:
    return Path(env["APPCONFIG_FETCH_OUTPUT"])


def test_first_fetch_writes_the_value_read_only(fetch_env: dict[str, str]) -> None:
    fetcher, _ = make_fetcher(fetch_env, stop_after=1)
    fetcher.run()
    output = output_of(fetch_env)
    assert output.read_bytes() == CANARY.encode()
    assert stat.S_IMODE(output.stat().st_mode) == 0o400
    # The temporary file was renamed, not left behind.
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]


def test_polls_chain_tokens_within_one_session(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    fetcher, sleep = make_fetcher(fetch_env, stop_after=4)
    fetcher.run()
    starts = [params for op, params in appconfigdata.calls if op == "StartConfigurationSession"]
    gets = [params for op, params in appconfigdata.calls if op == "GetLatestConfiguration"]
    assert starts == [
        {
            "ApplicationIdentifier": PROFILE_KEY[0],
            "EnvironmentIdentifier": PROFILE_KEY[1],
            "ConfigurationProfileIdentifier": PROFILE_KEY[2],
            "RequiredMinimumPollIntervalInSeconds": 15,
        }
    ]
    # The fake accepts each token once: four good polls in one session prove the chaining.
    assert len(gets) == 4
    assert len({g["ConfigurationToken"] for g in gets}) == 4
    assert appconfigdata.sessions_started == 1
    assert sleep.delays == [15, 15, 15, 15]


def test_empty_poll_keeps_the_file(fetch_env: dict[str, str]) -> None:
    output = output_of(fetch_env)
    seen: list[tuple[int, bytes]] = []
    fetcher, sleep = make_fetcher(fetch_env, stop_after=3)
    sleep.hooks = {
        n: lambda: seen.append((output.stat().st_ino, output.read_bytes())) for n in (1, 2, 3)
    }
    fetcher.run()
    # Polls 2 and 3 returned empty bodies: same file (same inode), same value.
    assert len({inode for inode, _ in seen}) == 1
    assert {value for _, value in seen} == {CANARY.encode()}


def test_rotation_writes_the_new_value(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appconfig_fetch")
    rotated = b"cxtp_ROTATED-2"
    fetcher, sleep = make_fetcher(fetch_env, stop_after=2)
    sleep.hooks = {1: lambda: appconfigdata.deploy(PROFILE_KEY, rotated, version="2")}
    fetcher.run()
    output = output_of(fetch_env)
    assert output.read_bytes() == rotated
    assert stat.S_IMODE(output.stat().st_mode) == 0o400
    assert f"rotated: {len(rotated)} bytes (version '2'" in caplog.text


def test_expired_token_starts_a_new_session(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    output = output_of(fetch_env)
    inodes: list[int] = []

    def expire() -> None:
        inodes.append(output.stat().st_ino)
        appconfigdata.expire_tokens()

    fetcher, sleep = make_fetcher(fetch_env, stop_after=3)
    sleep.hooks = {1: expire, 3: lambda: inodes.append(output.stat().st_ino)}
    fetcher.run()
    # The new session returned the same version in full: the file was left alone.
    assert inodes[0] == inodes[1]
    assert appconfigdata.sessions_started == 2
    assert fetcher.sessions_started == 2
    # No backoff: the rejected token was answered by a new session, then the normal interval.
    assert sleep.delays == [15, 15, 15]
    assert output_of(fetch_env).read_bytes() == CANARY.encode()


def test_throttling_backs_off_exponentially_then_recovers(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    appconfigdata.get_failures = [(429, "ThrottlingException")] * 3
    fetcher, sleep = make_fetcher(fetch_env, stop_after=5)
    fetcher.run()
    assert sleep.delays == [1.0, 2.0, 4.0, 15, 15]
    assert output_of(fetch_env).read_bytes() == CANARY.encode()
    # The throttled token was kept: still one session.
    assert appconfigdata.sessions_started == 1


def test_backoff_is_bounded(fetch_env: dict[str, str], appconfigdata: FakeAppConfigData) -> None:
    fetch_env["APPCONFIG_FETCH_MAX_BACKOFF_SECONDS"] = "5"
    appconfigdata.get_failures = [(429, "ThrottlingException")] * 3 + [
        (500, "InternalServerException")
    ] * 2
    fetcher, sleep = make_fetcher(fetch_env, stop_after=6)
    fetcher.run()
    assert sleep.delays == [1.0, 2.0, 4.0, 5.0, 5.0, 15]


def test_poll_interval_from_the_service_is_honoured(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    appconfigdata.poll_interval_s = 300
    fetcher, sleep = make_fetcher(fetch_env, stop_after=2)
    fetcher.run()
    assert sleep.delays == [300, 300]


def test_json_key_writes_one_field(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    document = f'{{"privateKey": "{CANARY}", "domain": "eu2.coralogix.com"}}'.encode()
    appconfigdata.deploy(PROFILE_KEY, document, version="3")
    fetch_env["APPCONFIG_FETCH_JSON_KEY"] = "privateKey"
    fetcher, _ = make_fetcher(fetch_env, stop_after=1)
    fetcher.run()
    assert output_of(fetch_env).read_bytes() == CANARY.encode()


@pytest.mark.parametrize(
    ("content", "key", "expected"),
    [
        (CANARY.encode(), "privateKey", "is not JSON"),
        (f'["{CANARY}"]'.encode(), "privateKey", "is a JSON list, not an object"),
        (
            f'{{"other": "{CANARY}"}}'.encode(),
            "privateKey",
            "key 'privateKey' not in the JSON object",
        ),
        (f'{{"privateKey": ["{CANARY}"]}}'.encode(), "privateKey", "holds a list"),
    ],
)
def test_json_key_errors_never_echo_the_value(
    fetch_env: dict[str, str],
    appconfigdata: FakeAppConfigData,
    content: bytes,
    key: str,
    expected: str,
) -> None:
    appconfigdata.deploy(PROFILE_KEY, content, version="4")
    fetch_env["APPCONFIG_FETCH_JSON_KEY"] = key
    fetcher, _ = make_fetcher(fetch_env, stop_after=1)
    with pytest.raises(FetchError) as raised:
        fetcher.run()
    assert expected in str(raised.value)
    # Not even a logged traceback would show it (the JSON error holding the document is cut).
    assert CANARY not in "".join(traceback.format_exception(raised.value))
    assert not output_of(fetch_env).exists()


def test_unknown_profile_is_a_clear_error(fetch_env: dict[str, str]) -> None:
    fetch_env["APPCONFIG_PROFILE"] = "no-such-profile"
    fetcher, _ = make_fetcher(fetch_env, stop_after=1)
    with pytest.raises(FetchError, match="StartConfigurationSession: ResourceNotFoundException"):
        fetcher.run()


def test_value_never_reaches_the_logs(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    # DEBUG everywhere, as an operator chasing a problem would set it, through a first write,
    # throttling, a rotation, a new session and an empty poll.
    configure_logging(logging.DEBUG)
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        appconfigdata.get_failures = [(429, "ThrottlingException")]
        fetcher, sleep = make_fetcher(fetch_env, stop_after=5)
        sleep.hooks = {
            2: lambda: appconfigdata.deploy(PROFILE_KEY, f"{CANARY}-v2".encode(), version="2"),
            3: appconfigdata.expire_tokens,
        }
        fetcher.run()
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    text = captured.getvalue()
    assert f"wrote {len(CANARY)} bytes" in text  # the capture did see the fetcher's lines
    assert f"rotated: {len(CANARY) + 3} bytes" in text
    assert CANARY not in text


def _probe(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_ready_only_after_the_file_exists(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    output = output_of(fetch_env)
    state = HealthState(output)
    server = HealthServer(state, "127.0.0.1", 0).start()
    observed: list[tuple[bool, int, int]] = []

    def look() -> None:
        observed.append(
            (output.exists(), _probe(server.port, "/readyz"), _probe(server.port, "/healthz"))
        )

    try:
        appconfigdata.get_failures = [(429, "ThrottlingException")]
        fetcher, sleep = make_fetcher(fetch_env, stop_after=2, state=state)
        sleep.hooks = {1: look, 2: look}
        look()  # before the first poll
        fetcher.run()
        os.chmod(output, 0o600)
        output.unlink()  # someone removed the file: not ready any more
        look()
        assert _probe(server.port, "/nope") == 404
    finally:
        server.stop()
    assert observed == [
        (False, 503, 200),  # started, nothing fetched
        (False, 503, 200),  # throttled, backing off
        (True, 200, 200),  # written
        (False, 503, 200),
    ]


def test_liveness_follows_the_announced_schedule(tmp_path: Path) -> None:
    now = [1000.0]
    state = HealthState(tmp_path / "value", clock=lambda: now[0])
    state.expect_next_heartbeat_within(300)
    now[0] += 300 + 119
    assert state.live()
    now[0] += 2
    assert not state.live()


def test_a_new_session_whose_token_is_refused_is_an_error_not_a_loop(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    appconfigdata.get_failures = [(400, "BadRequestException")]
    fetcher, sleep = make_fetcher(fetch_env, stop_after=3)
    with pytest.raises(FetchError, match="GetLatestConfiguration: BadRequestException"):
        fetcher.run()
    assert appconfigdata.sessions_started == 1
    assert sleep.delays == []


def test_empty_configuration_is_not_ready_and_fails_once_mode(
    fetch_env: dict[str, str], appconfigdata: FakeAppConfigData
) -> None:
    appconfigdata.deploy(PROFILE_KEY, b"", version="0")
    state = HealthState(output_of(fetch_env))
    fetcher, _ = make_fetcher(fetch_env, stop_after=2, state=state)
    fetcher.run()
    assert not state.ready()
    assert not output_of(fetch_env).exists()
    once, _ = make_fetcher(fetch_env, stop_after=1)
    with pytest.raises(FetchError, match="empty configuration"):
        once.run_once()
