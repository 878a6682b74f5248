"""Watch namespaces so a new target namespace gets its secret at once, not at the next run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from . import kube
from .schedule import backoff_delay

log = logging.getLogger("ecr_refresher.watch")

GONE = 410


class NamespaceWatcher(threading.Thread):
    """Lists, then watches namespaces; calls `on_added` / `on_deleted` with their names.

    Reconnects after each server-side timeout from the last resourceVersion, relists after
    410 Gone, and backs off (bounded) after other errors. Announcing a namespace twice is
    harmless: the refresher skips namespaces that already hold the current token.
    """

    def __init__(
        self,
        core_api: client.CoreV1Api,
        label_selector: str | None,
        on_added: Callable[[str], None],
        on_deleted: Callable[[str], None],
        stop: threading.Event,
        *,
        timeout_seconds: int = 300,
        backoff_base: timedelta = timedelta(seconds=1),
        backoff_cap: timedelta = timedelta(seconds=30),
    ) -> None:
        super().__init__(name="namespace-watch", daemon=True)
        self.core_api = core_api
        self.label_selector = label_selector
        self.on_added = on_added
        self.on_deleted = on_deleted
        self.stop_event = stop
        self.timeout_seconds = timeout_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.relists = 0

    def _selector_kwargs(self) -> dict[str, Any]:
        return {"label_selector": self.label_selector} if self.label_selector else {}

    def _list(self) -> str:
        """Announce every current namespace; returns the list's resourceVersion."""
        self.relists += 1
        listing = self.core_api.api_client.sanitize_for_serialization(
            self.core_api.list_namespace(**self._selector_kwargs())
        )
        for name in kube.active_namespace_names(listing.get("items") or []):
            self.on_added(name)
        return str(listing["metadata"]["resourceVersion"])

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        raw = event["raw_object"]
        name = raw["metadata"]["name"]
        if kind == "DELETED":
            self.on_deleted(name)
        elif kind in {"ADDED", "MODIFIED"} and raw.get("status", {}).get("phase") != "Terminating":
            # MODIFIED also covers a namespace that just gained the selector's label.
            self.on_added(name)

    def _watch_from(self, resource_version: str) -> str:
        """Stream events until the server ends the watch; returns the last resourceVersion."""
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        for event in stream.stream(  # type: ignore[no-untyped-call]
            self.core_api.list_namespace,
            resource_version=resource_version,
            timeout_seconds=self.timeout_seconds,
            allow_watch_bookmarks=True,
            **self._selector_kwargs(),
        ):
            if self.stop_event.is_set():
                stream.stop()  # type: ignore[no-untyped-call]
                break
            if event["type"] != "BOOKMARK":
                self._handle(event)
        return str(stream.resource_version or resource_version)

    def run(self) -> None:
        """Loop until `stop` is set."""
        resource_version: str | None = None
        failures = 0
        while not self.stop_event.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                resource_version = self._watch_from(resource_version)
                failures = 0
            except ApiException as error:
                if error.status == GONE:
                    log.info("watch expired (410); relisting namespaces")
                    resource_version = None
                    continue
                failures += 1
                self._pause(failures, error)
            except Exception as error:  # connection resets etc.: reconnect after a pause
                failures += 1
                self._pause(failures, error)

    def _pause(self, failures: int, error: BaseException) -> None:
        delay = backoff_delay(failures, self.backoff_base, self.backoff_cap)
        log.warning(
            "namespace watch failed; reconnecting",
            extra={"error": kube.describe(error), "retry_in_s": delay.total_seconds()},
        )
        self.stop_event.wait(delay.total_seconds())
