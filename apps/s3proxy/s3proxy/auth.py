"""HTTP basic auth against an htpasswd file of bcrypt hashes, re-read when the file changes.

The file is a mounted Kubernetes Secret: the kubelet swaps it atomically, so a changed
(mtime, inode, size) signature means new content. A file that is briefly unreadable keeps the
previous users instead of locking everybody out.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

_LOG = logging.getLogger("s3proxy.auth")
_BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
_VERIFIED_CACHE_SIZE = 1024
_RECHECK_INTERVAL_S = 1.0
# bcrypt reads at most 72 bytes of a password; Apache's htpasswd and apr-util (crypt_blowfish)
# silently ignore the rest when hashing and when verifying. The bcrypt package (5.x) raises
# ValueError instead, so the proxy truncates first: it accepts exactly what htpasswd accepts.
BCRYPT_MAX_PASSWORD_BYTES = 72


class HtpasswdError(ValueError):
    """The htpasswd file cannot be used at all."""


def parse_htpasswd(text: str) -> dict[str, bytes]:
    """Users and bcrypt hashes from htpasswd text; other hash schemes are skipped with a warning."""
    users: dict[str, bytes] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        user, separator, hashed = line.partition(":")
        if not separator or not user:
            _LOG.warning("htpasswd line %d ignored: not USER:HASH", number)
            continue
        if not hashed.startswith(_BCRYPT_PREFIXES):
            _LOG.warning("htpasswd line %d (%s) ignored: not a bcrypt hash", number, user)
            continue
        users[user] = hashed.encode("ascii")
    return users


def _bcrypt_cost(hashed: bytes) -> int:
    """The work factor written in a bcrypt hash ($2b$12$...)."""
    try:
        return int(hashed.split(b"$")[2])
    except (IndexError, ValueError):
        return 12


@dataclass
class HtpasswdAuthenticator:
    """Checks (user, password) pairs; thread-safe; reloads its file when it changes.

    Each wrong or unknown-user attempt costs exactly one bcrypt check (a dummy hash of the same
    cost stands in for unknown users), so timing does not reveal which users exist. A correct
    pair is remembered (keyed by an HMAC of the password under a per-process random key) until
    the file changes, so clients that send credentials on every request do not pay bcrypt each time.
    `remembered()` answers from that memory alone and never runs bcrypt.
    """

    path: Path
    _users: dict[str, bytes] = field(default_factory=dict, init=False)
    _dummy_hash: bytes | None = field(default=None, init=False)
    _dummy_cost: int = field(default=10, init=False)
    _signature: tuple[int, int, int] | None = field(default=None, init=False)
    _checked_at: float = field(default=0.0, init=False)
    _verified: OrderedDict[str, bytes] = field(default_factory=OrderedDict, init=False)
    _cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if not self._reload(force=True):
            raise HtpasswdError(f"{self.path}: cannot read htpasswd file")

    @property
    def user_count(self) -> int:
        """How many users the current file defines."""
        return len(self._users)

    def _reload(self, *, force: bool = False) -> bool:
        """Re-read the file if its signature changed; False if it could not be read."""
        try:
            stat = os.stat(self.path)
            signature = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
            if not force and signature == self._signature:
                return True
            users = parse_htpasswd(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            _LOG.error("htpasswd %s unreadable, keeping previous users: %s", self.path, error)
            return False
        cost = max((_bcrypt_cost(hashed) for hashed in users.values()), default=10)
        with self._lock:
            self._users, self._signature = users, signature
            # Made on first use, by a password check (off the event loop), not here.
            self._dummy_hash, self._dummy_cost = None, cost
            self._verified.clear()
        _LOG.info("htpasswd %s loaded: %d user(s)", self.path, len(users))
        return True

    def _maybe_reload(self, now: float) -> None:
        # stat() at most once a second: cheap, and a Secret update shows up within a second.
        if now - self._checked_at >= _RECHECK_INTERVAL_S:
            self._checked_at = now
            self._reload()

    def _password_mac(self, user: str, password: str) -> bytes:
        message = user.encode("utf-8") + b"\x00" + password.encode("utf-8")
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    def remembered(self, user: str, password: str, *, now: float) -> bool:
        """True when this exact pair was verified since the file last changed (no bcrypt)."""
        self._maybe_reload(now)
        with self._lock:
            hashed = self._users.get(user)
            remembered = self._verified.get(user)
        if hashed is None or remembered is None:
            return False
        return hmac.compare_digest(remembered, self._password_mac(user, password))

    def _dummy(self) -> bytes:
        with self._lock:
            dummy, cost = self._dummy_hash, self._dummy_cost
        if dummy is None:
            dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))
            with self._lock:
                self._dummy_hash = dummy
        return dummy

    def check(self, user: str, password: str, *, now: float) -> bool:
        """True when the pair is valid for the current file (bcrypt unless remembered)."""
        if self.remembered(user, password, now=now):
            return True
        with self._lock:
            hashed = self._users.get(user)
        candidate = password.encode("utf-8")[:BCRYPT_MAX_PASSWORD_BYTES]
        try:
            valid = bcrypt.checkpw(candidate, hashed or self._dummy()) and hashed is not None
        except ValueError:  # malformed hash in the file
            _LOG.warning("htpasswd hash of user %r is malformed", user)
            valid = False
        if valid:
            mac = self._password_mac(user, password)
            with self._lock:
                self._verified[user] = mac
                self._verified.move_to_end(user)
                while len(self._verified) > _VERIFIED_CACHE_SIZE:
                    self._verified.popitem(last=False)
        return valid


class Verdict(enum.Enum):
    """The outcome of checking one request's credentials."""

    VALID = "valid"
    INVALID = "invalid"
    BUSY = "busy"  # too many unverified credentials already waiting: answer 503, check nothing


class PasswordChecks:
    """Remembered credentials answer at once; others wait for a bcrypt check in a bounded pool.

    bcrypt costs tens of milliseconds of CPU by design. Run on the event loop, a flood of wrong
    passwords would stall every request; here at most `threads` checks run at once (bcrypt
    releases the GIL, so the loop keeps serving), at most `max_pending` wait, and the rest are
    refused without a check (`Verdict.BUSY`).
    """

    def __init__(
        self, authenticator: HtpasswdAuthenticator, threads: int, max_pending: int
    ) -> None:
        self.authenticator = authenticator
        self.threads = threads
        self.max_pending = max_pending
        self.pending = 0
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3proxy-auth")

    async def verify(self, user: str, password: str, *, now: float) -> Verdict:
        """The verdict for one pair; never waits when the pair is remembered."""
        if self.authenticator.remembered(user, password, now=now):
            return Verdict.VALID
        if self.pending >= self.max_pending:
            return Verdict.BUSY
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            valid = await loop.run_in_executor(
                self._pool, lambda: self.authenticator.check(user, password, now=now)
            )
        finally:
            self.pending -= 1
        return Verdict.VALID if valid else Verdict.INVALID

    def close(self) -> None:
        """Stop the check threads (waiting checks are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
