"""One refresh: get a token, write it into every target namespace, never let one block others."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from . import kube, manifests
from .aws_identity import CredentialsSource
from .config import Config
from .credentials import RegistryCredential, TokenError, earliest_expiry, fetch_credentials
from .metrics import Metrics
from .schedule import backoff_delay

log = logging.getLogger("ecr_refresher")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class NamespaceResult:
    """How writing one namespace went."""

    namespace: str
    ok: bool
    attempts: int
    error: str | None = None


@dataclass
class RefreshReport:
    """How a refresh pass went: token fetch, namespace listing, per-namespace results."""

    token_ok: bool = True
    listing_ok: bool = True
    results: list[NamespaceResult] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Namespaces that failed in this pass."""
        return [result.namespace for result in self.results if not result.ok]

    @property
    def ok(self) -> bool:
        """Everything worked."""
        return self.token_ok and self.listing_ok and not self.failed


@dataclass(frozen=True)
class RetryPolicy:
    """Per-namespace attempts within one pass, with bounded exponential backoff."""

    attempts: int = 4
    base: timedelta = timedelta(milliseconds=500)
    cap: timedelta = timedelta(seconds=8)


class Refresher:
    """Holds the current token and which namespaces already carry it.

    Call from one thread at a time (the run loop); the namespace writes themselves run in a
    thread pool.
    """

    def __init__(
        self,
        config: Config,
        core_api: client.CoreV1Api,
        ecr_client: Any,
        metrics: Metrics,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        credentials_source: CredentialsSource | None = None,
    ) -> None:
        self.config = config
        self.core_api = core_api
        self.ecr_client = ecr_client
        # Where `ecr_client` came from, to notice a rotated key (None: a fixed client).
        self.credentials_source = credentials_source
        self.metrics = metrics
        self.retry = retry or RetryPolicy(attempts=config.attempts)
        self.clock = clock
        self.sleep = sleep
        self.credentials: list[RegistryCredential] | None = None
        # Bumped for each new token; `written[ns] == generation` means ns is up to date.
        self.generation = 0
        self.written: dict[str, int] = {}
        self.failed: set[str] = set()
        # Called after each namespace: long passes still count as signs of life.
        self.on_progress: Callable[[], None] = lambda: None

    @property
    def expires_at(self) -> datetime | None:
        """When the token we hold expires (None before the first successful fetch)."""
        return earliest_expiry(self.credentials) if self.credentials else None

    def fetch_token(self) -> bool:
        """Get a new token from ECR; on failure keep the old one and return False."""
        try:
            credentials = fetch_credentials(self.ecr_client, self.config.registry_ids)
        except TokenError as error:
            self.metrics.token_failures.inc()
            log.error("token fetch failed", extra={"error": str(error)})
            return False
        self.credentials = credentials
        self.generation += 1
        for credential in credentials:
            self.metrics.token_expiry.labels(credential.host).set(credential.expires_at.timestamp())
        log.info(
            "token fetched",
            extra={
                "registries": [credential.host for credential in credentials],
                "expires_at": earliest_expiry(credentials).isoformat(),
            },
        )
        self._report_status(credentials)
        return True

    def credentials_changed(self) -> bool:
        """Whether the credentials were rotated since the last check; the client then uses them."""
        source = self.credentials_source
        if source is None or not source.changed():
            return False
        self.ecr_client = source.client()
        return True

    def _report_status(self, credentials: list[RegistryCredential]) -> None:
        """Write which credentials the new token came from into the status ConfigMap.

        `berth refresher rotate-key` waits for the new access key id here before it deletes the
        old key. A failed write is logged and changes nothing else.
        """
        config = self.config
        if not config.status_config_map:
            return
        data = {
            "tokenFetchedAt": self.clock().isoformat(),
            "tokenExpiresAt": earliest_expiry(credentials).isoformat(),
        }
        identity = self.credentials_source.identity() if self.credentials_source else None
        if identity is not None:
            data["accessKeyId"] = identity.access_key_id
            data["credentialSource"] = identity.method
        try:
            kube.patch_config_map_data(
                self.core_api, config.status_namespace, config.status_config_map, data
            )
        except Exception as error:  # the refresh itself went well; only the report failed
            log.warning(
                "status not written",
                extra={"config_map": config.status_config_map, "error": kube.describe(error)},
            )

    def target_namespaces(self) -> list[str]:
        """The namespaces to write now: the configured list, or those the API server lists."""
        if self.config.namespaces:
            return list(self.config.namespaces)
        return kube.list_target_namespaces(self.core_api, self.config.namespace_selector or None)

    def full_refresh(self) -> RefreshReport:
        """New token, then every target namespace. Old secrets stay if anything fails."""
        report = RefreshReport(token_ok=self.fetch_token())
        if self.credentials is None:
            return report
        try:
            namespaces = self.target_namespaces()
        except Exception as error:  # any listing failure: retry later, keep what works
            report.listing_ok = False
            log.error("listing namespaces failed", extra={"error": kube.describe(error)})
            namespaces = sorted(set(self.written) | self.failed)
        report.results = self.refresh(namespaces)
        return report

    def ensure(self, namespaces: Iterable[str]) -> list[NamespaceResult]:
        """Write the current token into those of `namespaces` that do not have it yet."""
        if self.credentials is None:
            return []  # the pending full refresh will cover them
        stale = [ns for ns in dict.fromkeys(namespaces) if self.written.get(ns) != self.generation]
        return self.refresh(stale) if stale else []

    def forget(self, namespace: str) -> None:
        """A namespace was deleted: stop tracking it and drop its metric series."""
        self.written.pop(namespace, None)
        self.failed.discard(namespace)
        self.metrics.forget_namespace(namespace)
        self.metrics.namespaces_failing.set(len(self.failed))

    def refresh(self, namespaces: list[str]) -> list[NamespaceResult]:
        """Write the current token into `namespaces`, in parallel; one failure blocks nothing."""
        if not namespaces or self.credentials is None:
            return []
        credentials, generation = self.credentials, self.generation
        started = time.monotonic()
        workers = min(self.config.concurrency, len(namespaces))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
            results = list(pool.map(lambda ns: self._refresh_one(ns, credentials), namespaces))
        self.metrics.refresh_duration.observe(time.monotonic() - started)
        for result in results:
            if result.ok:
                self.written[result.namespace] = generation
                self.failed.discard(result.namespace)
            else:
                self.failed.add(result.namespace)
        self.metrics.namespaces_failing.set(len(self.failed))
        log.info(
            "refresh pass done",
            extra={
                "namespaces": len(results),
                "failed": sorted(r.namespace for r in results if not r.ok),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return results

    def _refresh_one(
        self, namespace: str, credentials: list[RegistryCredential]
    ) -> NamespaceResult:
        """Write one namespace, retrying retryable errors with bounded exponential backoff."""
        try:
            return self._refresh_one_with_retries(namespace, credentials)
        finally:
            self.on_progress()

    def _refresh_one_with_retries(
        self, namespace: str, credentials: list[RegistryCredential]
    ) -> NamespaceResult:
        attempt = 0
        while True:
            attempt += 1
            try:
                self._write_namespace(namespace, credentials)
            except Exception as error:  # every failure is contained to this namespace
                retry = kube.is_retryable(error) and attempt < self.retry.attempts
                log.warning(
                    "namespace write failed",
                    extra={
                        "namespace": namespace,
                        "attempt": attempt,
                        "error": kube.describe(error),
                        "will_retry": retry,
                    },
                )
                if retry:
                    delay = backoff_delay(attempt, self.retry.base, self.retry.cap)
                    self.sleep(delay.total_seconds())
                    continue
                self.metrics.namespace_failures.labels(namespace).inc()
                return NamespaceResult(namespace, False, attempt, kube.describe(error))
            now = self.clock().timestamp()
            self.metrics.last_success.labels(namespace).set(now)
            self.metrics.secret_expiry.labels(namespace).set(
                earliest_expiry(credentials).timestamp()
            )
            return NamespaceResult(namespace, True, attempt)

    def _write_namespace(self, namespace: str, credentials: list[RegistryCredential]) -> None:
        """Pull secret, service accounts, then (optionally) the builder secret and account."""
        config = self.config
        action = kube.upsert_secret(
            self.core_api, manifests.pull_secret(config.secret_name, namespace, credentials)
        )
        log.info(
            "pull secret written",
            extra={"namespace": namespace, "secret": config.secret_name, "action": action},
        )
        for account in config.service_accounts:
            if kube.attach_to_service_account(
                self.core_api, namespace, account, image_pull_secret=config.secret_name
            ):
                log.info(
                    "service account patched",
                    extra={"namespace": namespace, "service_account": account},
                )
        if not config.builder_enabled:
            return
        kube.upsert_secret(
            self.core_api,
            manifests.builder_secret(config.builder_secret_name, namespace, credentials),
        )
        if config.builder_service_account:
            kube.attach_to_service_account(
                self.core_api,
                namespace,
                config.builder_service_account,
                image_pull_secret=config.secret_name,
                secret=config.builder_secret_name,
            )
