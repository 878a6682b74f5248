"""The fetch loop: poll AppConfig, write changed values atomically, back off when told to.

Log lines carry byte lengths, version labels and content types, never the value. The AWS SDK's
own DEBUG output includes response bodies, so `configure_logging` holds its loggers at WARNING.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
)

from appconfig_fetch.config import FetchConfig
from appconfig_fetch.health import HealthState
from appconfig_fetch.output import ValueFormatError, extract_value, write_atomically
from appconfig_fetch.poller import ConfigurationPoller, Poll, error_code

log = logging.getLogger(__name__)

# Errors worth waiting out: the service asks us to slow down or is briefly unwell.
_RETRYABLE_CODES = frozenset(
    {"ThrottlingException", "InternalServerException", "ServiceUnavailable", "RequestTimeout"}
)
# Loggers that would print request/response bodies (the secret) at DEBUG.
_SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


class FetchError(RuntimeError):
    """The fetcher cannot go on; the message is one line and never contains the value."""


def configure_logging(level: int) -> None:
    """One line per event on stderr; the AWS SDK never below WARNING (its DEBUG logs bodies)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def build_client(config: FetchConfig) -> Any:
    """A boto3 `appconfigdata` client; endpoint from AWS_ENDPOINT_URL(_APPCONFIGDATA) if set.

    The SDK's own retries are off: throttling must reach our backoff (which the tests drive
    with an injected sleep), or each of our attempts would hide up to three real ones.
    """
    return boto3.session.Session().client(
        "appconfigdata",
        region_name=config.region,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=20,
            user_agent_extra="berth-appconfig-fetch",
        ),
    )


def is_retryable(error: Exception) -> bool:
    """Whether `error` is transient (throttling, server error, network) rather than a refusal."""
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error_code(error) in _RETRYABLE_CODES or status >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


def describe(error: Exception) -> str:
    """A one-line description of an AWS error (AWS messages never echo configuration data)."""
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "").splitlines()
        operation = error.operation_name or "AWS"
        return f"{operation}: {error_code(error)}: {message[0] if message else 'no message'}"
    return f"{type(error).__name__}: {error}".splitlines()[0]


@dataclass
class Backoff:
    """Bounded exponential backoff with "equal jitter": base * 2**n, capped, then 50-100 %.

    Hand-written (a dozen lines) rather than a dependency: botocore's own implementation is
    private API, and the delays must go through our injectable sleep.
    """

    base_s: float = 1.0
    cap_s: float = 60.0
    jitter: Callable[[], float] = random.random
    _attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0**self._attempt)
        self._attempt += 1
        return ceiling / 2 + ceiling / 2 * self.jitter()

    def reset(self) -> None:
        self._attempt = 0


class Fetcher:
    """Runs the poll loop for one configuration and keeps the output file current."""

    def __init__(
        self,
        config: FetchConfig,
        client: Any,
        *,
        state: HealthState | None = None,
        sleep: Callable[[float], object] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._poller = ConfigurationPoller(
            client,
            application=config.application,
            environment=config.environment,
            profile=config.profile,
            min_interval_s=config.poll_interval_s,
        )
        self._state = state or HealthState(config.output_path)
        self._stop = threading.Event()
        # Waiting on the stop event makes SIGTERM cut a long poll interval short.
        self._sleep: Callable[[float], object] = sleep or self._stop.wait
        self._backoff = Backoff(cap_s=config.max_backoff_s, jitter=jitter)
        self._written: bytes | None = None

    @property
    def sessions_started(self) -> int:
        return self._poller.sessions_started

    def stop(self) -> None:
        """Ask `run` to return after the current step (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Poll until `stop()`; raises `FetchError` when AWS refuses us or the value is unusable."""
        while not self._stop.is_set():
            delay = self.step()
            self._state.expect_next_heartbeat_within(delay)
            if self._stop.is_set():
                break
            self._sleep(delay)

    def run_once(self) -> None:
        """Fetch and write one value (init-container mode); retries transient errors a few times."""
        for attempt in range(1, self._config.once_max_attempts + 1):
            try:
                poll = self._poller.poll()
            except (BotoCoreError, ClientError) as error:
                if not is_retryable(error):
                    raise FetchError(describe(error)) from None
                if attempt == self._config.once_max_attempts:
                    message = f"gave up after {attempt} attempts: {describe(error)}"
                    raise FetchError(message) from None
                self._wait_after(error)
                continue
            if not poll.content:
                raise FetchError("AppConfig returned an empty configuration; nothing written")
            self._apply(poll)
            return

    def step(self) -> float:
        """One poll (and write when the value changed); returns the seconds to wait next."""
        try:
            poll = self._poller.poll()
        except (BotoCoreError, ClientError) as error:
            if not is_retryable(error):
                raise FetchError(describe(error)) from None
            return self._backoff_delay(error)
        self._backoff.reset()
        self._apply(poll)
        return float(poll.next_interval_s)

    def _backoff_delay(self, error: Exception) -> float:
        delay = self._backoff.next_delay()
        log.warning("%s; retrying in %.1f s", describe(error), delay)
        return delay

    def _wait_after(self, error: Exception) -> None:
        self._sleep(self._backoff_delay(error))

    def _apply(self, poll: Poll) -> None:
        if not poll.content:
            if self._written is None:
                log.warning("AppConfig returned an empty configuration; nothing written yet")
            else:
                log.debug("configuration unchanged (empty poll)")
            return
        try:
            value = extract_value(poll.content, self._config.json_key)
        except ValueFormatError as error:
            raise FetchError(str(error)) from None
        if value == self._written:
            log.info("configuration version %r unchanged; file kept", poll.version_label)
            return
        try:
            write_atomically(self._config.output_path, value)
        except OSError as error:
            raise FetchError(
                f"APPCONFIG_FETCH_OUTPUT: cannot write {self._config.output_path}: "
                f"{error.strerror or error}"
            ) from None
        first = self._written is None
        self._written = value
        self._state.mark_written()
        log.info(
            "%s %d bytes (version %r, %s) to %s",
            "wrote" if first else "rotated:",
            len(value),
            poll.version_label,
            poll.content_type or "no content type",
            self._config.output_path,
        )
