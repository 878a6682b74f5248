"""Authentication that cannot be turned against the service, and htpasswd's 72-byte rule.

The bounded check pool is proved by its mechanism (how many checks run, what waits, what is
refused), not by timings; the wrong-password flood itself is a row of bench/s3proxy_bench.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from s3proxy.auth import HtpasswdAuthenticator, PasswordChecks, Verdict
from s3proxy_harness import BIG, PREFIX, ProxyProcess, htpasswd_line

# Made by Apache's own tool, `htpasswd -nbB -C 4 USER PASSWORD` (apache2-utils 2.4), whose
# bcrypt reads the first 72 bytes of the password and ignores the rest:
#   htpasswd -vb FILE long "${LONG:0:72}anything"   -> correct
#   htpasswd -vb FILE long "${LONG:0:71}"           -> verification failed
#   htpasswd -vb FILE utf  "xxx...x" + "è"          -> correct (byte 72 is 0xC3 in both)
LONG = "correct horse battery staple, correct horse battery staple, correct horse batter"
LONG_LINE = "long:$2y$04$qb4VbvPRGTzmgLnbE7V5EOmwaVujzhKbDdelsEZbupvXUIdQJ.bqi"
UTF = "x" * 71 + "é"  # 73 bytes: the 72-byte limit falls inside "é"
UTF_LINE = "utf:$2y$04$zSMVdGC1p3ZcW4pZl0.KGesZzBHDdMwafIZqW7NRvcGnt6QKLspb."


@pytest.fixture
def apache_file(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(f"{LONG_LINE}\n{UTF_LINE}\n{htpasswd_line('short', 'pw')}\n")
    return path


@pytest.mark.parametrize(
    ("user", "password", "valid"),
    [
        ("long", LONG, True),  # 80 bytes: bcrypt 5 alone raises ValueError here
        ("long", LONG[:72], True),
        ("long", LONG[:72] + " and then something else", True),
        ("long", LONG[:71], False),
        ("long", LONG[:71] + "X" + LONG[72:], False),
        ("utf", UTF, True),
        ("utf", "x" * 71 + "è", True),  # same first 72 bytes, as htpasswd -v says
        ("utf", "x" * 72, False),
        ("short", "pw", True),
        ("short", "pw" + "x" * 100, False),
    ],
)
def test_long_passwords_verify_as_htpasswd_does(
    apache_file: Path, user: str, password: str, valid: bool
) -> None:
    assert HtpasswdAuthenticator(apache_file).check(user, password, now=0.0) is valid


# --- the bounded check pool ---------------------------------------------------------------


class _GatedBcrypt:
    """Stands in for bcrypt.checkpw: blocks until released, records how many run at once."""

    def __init__(self, real: Callable[[bytes, bytes], bool]) -> None:
        self.real = real
        self.gate = threading.Event()
        self.running = 0
        self.most_running = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            assert self.gate.wait(timeout=30), "gate never opened"
            return self.real(password, hashed)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[_GatedBcrypt]:
    import bcrypt

    fake = _GatedBcrypt(bcrypt.checkpw)
    monkeypatch.setattr("s3proxy.auth.bcrypt.checkpw", fake)
    yield fake
    fake.gate.set()


def _checks(path: Path, threads: int, max_pending: int) -> PasswordChecks:
    return PasswordChecks(HtpasswdAuthenticator(path), threads=threads, max_pending=max_pending)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never met")


def test_at_most_threads_checks_run_at_once(apache_file: Path, gated: _GatedBcrypt) -> None:
    async def scenario() -> list[Verdict]:
        checks = _checks(apache_file, threads=2, max_pending=64)
        tasks = [
            asyncio.create_task(checks.verify("short", f"wrong-{n}", now=0.0)) for n in range(10)
        ]
        await _until(lambda: gated.running == 2)
        assert checks.pending == 10  # all accepted, two checking, eight waiting
        gated.gate.set()
        verdicts = await asyncio.gather(*tasks)
        checks.close()
        return verdicts

    verdicts = asyncio.run(scenario())
    assert verdicts == [Verdict.INVALID] * 10
    assert gated.most_running == 2
    assert gated.calls == 10


def test_beyond_max_pending_is_refused_without_a_check(
    apache_file: Path, gated: _GatedBcrypt
) -> None:
    async def scenario() -> Verdict:
        checks = _checks(apache_file, threads=1, max_pending=3)
        waiting = [
            asyncio.create_task(checks.verify("short", f"wrong-{n}", now=0.0)) for n in range(3)
        ]
        await _until(lambda: checks.pending == 3)
        refused = await checks.verify("long", LONG, now=0.0)  # even a valid one: not checked
        gated.gate.set()
        await asyncio.gather(*waiting)
        checks.close()
        return refused

    assert asyncio.run(scenario()) is Verdict.BUSY
    assert gated.calls == 3


def test_remembered_credentials_never_wait_for_the_pool(
    apache_file: Path, gated: _GatedBcrypt
) -> None:
    async def scenario() -> Verdict:
        checks = _checks(apache_file, threads=1, max_pending=64)
        gated.gate.set()
        assert await checks.verify("short", "pw", now=0.0) is Verdict.VALID  # checked once
        gated.gate.clear()
        stuck = asyncio.create_task(checks.verify("short", "wrong", now=0.0))
        await _until(lambda: gated.running == 1)  # the only check thread is now blocked
        # A remembered pair is answered on the spot (a deadlock guard, not a timing claim).
        verdict = await asyncio.wait_for(checks.verify("short", "pw", now=0.0), timeout=10)
        gated.gate.set()
        await stuck
        checks.close()
        return verdict

    assert asyncio.run(scenario()) is Verdict.VALID
    assert gated.calls == 2  # the first check and the stuck wrong one; none for the cache hit


# --- through the real proxy ---------------------------------------------------------------


@pytest.fixture(scope="module")
def long_password_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    start_proxy: Callable[..., ProxyProcess],
    moto_endpoint: str,
    bucket: str,
) -> ProxyProcess:
    path = tmp_path_factory.mktemp("apache") / "htpasswd"
    path.write_text(f"{LONG_LINE}\n")
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "S3_BUCKET": bucket,
            "S3PROXY_PREFIX": PREFIX,
            "S3PROXY_HTPASSWD_FILE": str(path),
        }
    )


def test_htpasswd_long_password_reads_through_the_proxy(long_password_proxy: ProxyProcess) -> None:
    reply = long_password_proxy.request("/big.bin", auth=("long", LONG))
    assert (reply.status, reply.body) == (200, BIG)


def _failures(proxy: ProxyProcess) -> dict[str, float]:
    text = proxy.management("/metrics").body.decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("s3proxy_auth_failures_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
    return counts


def test_failed_auth_is_counted_and_logged_without_the_password(
    long_password_proxy: ProxyProcess,
) -> None:
    secret = "hunter2-never-in-logs"
    before = _failures(long_password_proxy)
    assert long_password_proxy.request("/big.bin", auth=("mallory", secret)).status == 401
    assert long_password_proxy.request("/big.bin", auth=("long", secret)).status == 401
    assert long_password_proxy.request("/big.bin").status == 401
    after = _failures(long_password_proxy)
    assert after["invalid"] - before.get("invalid", 0) == 2
    assert after["missing"] - before.get("missing", 0) == 1
    deadline = time.monotonic() + 10
    log = ""
    while "user='mallory'" not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = long_password_proxy.stderr_path.read_text()
    assert "authentication failed: user='mallory'" in log
    assert "authentication failed: user='long'" in log
    everything = log + long_password_proxy.stdout_path.read_text()
    assert secret not in everything
