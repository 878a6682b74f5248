"""Readiness and liveness of the fetcher, and the tiny HTTP server the kubelet probes.

`/readyz` answers 200 only once this process has written the output file (and it still exists):
the chart uses it as the native sidecar's startupProbe, so the collector starts after the file
is there. `/healthz` answers 200 while the poll loop keeps its promised schedule: before each
wait the loop announces how long it will be away; a loop stuck beyond that (plus a grace for
the AWS call itself) is reported dead and restarted by the kubelet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

# Time allowed for one round of AWS calls (connect + read timeouts, a session restart) past
# the announced wait before the loop counts as stuck.
LIVENESS_GRACE_S = 120.0


class HealthState:
    """What the probes report; written by the poll loop, read by the HTTP server threads."""

    def __init__(self, output_path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._output_path = output_path
        self._clock = clock
        self._lock = threading.Lock()
        self._written = False
        self._deadline = clock() + LIVENESS_GRACE_S

    def mark_written(self) -> None:
        """The output file now holds a value fetched by this process."""
        with self._lock:
            self._written = True

    def expect_next_heartbeat_within(self, seconds: float) -> None:
        """The loop is about to wait `seconds`; it must be back before that (plus grace)."""
        with self._lock:
            self._deadline = self._clock() + seconds + LIVENESS_GRACE_S

    def ready(self) -> bool:
        with self._lock:
            written = self._written
        return written and self._output_path.is_file()

    def live(self) -> bool:
        with self._lock:
            return self._clock() <= self._deadline


def _handler_for(state: HealthState) -> type[BaseHTTPRequestHandler]:
    checks: dict[str, Callable[[], bool]] = {"/readyz": state.ready, "/healthz": state.live}

    class _ProbeHandler(BaseHTTPRequestHandler):
        server_version = "appconfig-fetch"
        sys_version = ""

        def do_GET(self) -> None:
            check = checks.get(self.path.split("?", 1)[0])
            if check is None:
                self._answer(HTTPStatus.NOT_FOUND, b"not found\n")
            elif check():
                self._answer(HTTPStatus.OK, b"ok\n")
            else:
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, b"not ok\n")

        def _answer(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Probes arrive every few seconds; keep them out of the INFO log.
            log.debug("probe %s", format % args)

    return _ProbeHandler


class HealthServer:
    """The probe endpoints on a background thread; `port` is the bound port (useful with 0)."""

    def __init__(self, state: HealthState, address: str, port: int) -> None:
        self._server = ThreadingHTTPServer((address, port), _handler_for(state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("probes on port %d: /readyz, /healthz", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
