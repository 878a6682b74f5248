"""The run loop: refresh at start, before expiry, on new namespaces, and retry failures."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime

from .refresher import Clock, Refresher, RefreshReport, utc_now
from .schedule import next_refresh_at, next_token_retry_at, seconds_until
from .server import Health

log = logging.getLogger("ecr_refresher")

# Longest nap between loop turns: bounds stop latency and keeps the heartbeat fresh.
MAX_NAP_S = 5.0


class Runner:
    """Drives a Refresher from a queue of namespace events and a schedule."""

    def __init__(
        self,
        refresher: Refresher,
        health: Health | None = None,
        *,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
        max_nap_s: float = MAX_NAP_S,
    ) -> None:
        self.refresher = refresher
        self.health = health or Health()
        refresher.on_progress = self.health.beat
        self.clock = clock
        self.stop = stop or threading.Event()
        self.max_nap_s = max_nap_s
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.next_full: datetime = clock()
        self.retry_at: datetime | None = None
        # When to look at the credentials file again (only with a file to watch).
        source = refresher.credentials_source
        self.credentials_check_at: datetime | None = (
            clock() + refresher.config.credentials_check_interval
            if source is not None and source.watches_file
            else None
        )
        self.token_failures = 0

    def namespace_added(self, name: str) -> None:
        """Called from the watcher thread."""
        self.events.put(("added", name))

    def namespace_deleted(self, name: str) -> None:
        """Called from the watcher thread."""
        self.events.put(("deleted", name))

    def run_once(self) -> RefreshReport:
        """One full refresh (the `--once` mode)."""
        return self.refresher.full_refresh()

    def _full_refresh(self, now: datetime) -> None:
        report = self.refresher.full_refresh()
        expires_at = self.refresher.expires_at
        if report.token_ok and expires_at is not None:
            self.token_failures = 0
            margin = self.refresher.config.refresh_margin
            self.next_full = next_refresh_at(now, expires_at, margin)
        else:
            self.token_failures += 1
            self.next_full = next_token_retry_at(now, self.token_failures, expires_at)
        self._schedule_retry(now)
        self.health.ready.set()
        log.info("next full refresh scheduled", extra={"at": self.next_full.isoformat()})

    def _schedule_retry(self, now: datetime) -> None:
        if self.refresher.failed:
            self.retry_at = self.retry_at or now + self.refresher.config.retry_interval
        else:
            self.retry_at = None

    def _drain_events(self, timeout_s: float) -> list[tuple[str, str]]:
        try:
            events = [self.events.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self.events.get_nowait())
            except queue.Empty:
                return events

    def _apply_events(self, events: list[tuple[str, str]]) -> None:
        added: list[str] = []
        for kind, name in events:
            if kind == "stop":
                continue
            if kind == "deleted":
                self.refresher.forget(name)
                added = [ns for ns in added if ns != name]
            else:
                added.append(name)
        if added:
            self.refresher.ensure(added)

    def _check_credentials(self, now: datetime) -> None:
        """A rotated key is used at once: a full refresh now, not at the next token renewal."""
        if self.credentials_check_at is None or now < self.credentials_check_at:
            return
        self.credentials_check_at = now + self.refresher.config.credentials_check_interval
        if self.refresher.credentials_changed():
            log.info("credentials rotated; refreshing now")
            self.token_failures = 0
            self.next_full = now

    def step(self) -> None:
        """One loop turn: do what is due, then wait for the next deadline or an event."""
        now = self.clock()
        self._check_credentials(now)
        if now >= self.next_full:
            self._full_refresh(now)
        elif self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None
            self.refresher.refresh(sorted(self.refresher.failed))
            self._schedule_retry(self.clock())
        self.health.beat()
        nap = min(
            self.max_nap_s,
            seconds_until(self.clock(), self.next_full, self.retry_at, self.credentials_check_at),
        )
        events = self._drain_events(nap)
        if events:
            self._apply_events(events)
            self._schedule_retry(self.clock())

    def _wake_on_stop(self) -> None:
        self.stop.wait()
        self.events.put(("stop", ""))

    def run_forever(self) -> None:
        """Loop until `stop` is set (which also wakes a napping loop at once)."""
        threading.Thread(target=self._wake_on_stop, name="stop-waker", daemon=True).start()
        while not self.stop.is_set():
            self.step()
