"""One JSON line per request, and the request metrics, measured at the WSGI boundary.

Measured here (not in the Flask view) because a streamed body is only finished when the
server closes the response iterable: that is when bytes sent and duration are known.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from s3proxy import metrics

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ACCESS_LOG = logging.getLogger("s3proxy.access")


def configure_logging() -> None:
    """JSON access lines on stdout; the app's other messages as plain lines on stderr."""
    access = logging.StreamHandler(sys.stdout)
    access.setFormatter(logging.Formatter("%(message)s"))
    ACCESS_LOG.handlers[:] = [access]
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    app_log = logging.getLogger("s3proxy")
    if not app_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        app_log.addHandler(handler)
        app_log.setLevel(logging.INFO)


class _MeasuredBody:
    """Wraps a response iterable: counts bytes, and logs once when the server closes it."""

    def __init__(self, body: Iterable[bytes], finish: Callable[[int], None]) -> None:
        self._body = body
        self._finish = finish
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(self._sent)


class AccessLogMiddleware:
    """WSGI middleware: JSON access log line + requests/bytes/latency metrics per request."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.monotonic()
        status_holder: list[str] = []

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            status_holder[:] = [status]
            return start_response(status, headers, *args)

        def finish(sent: int) -> None:
            status = status_holder[0].split(" ", 1)[0] if status_holder else "000"
            method = str(environ.get("REQUEST_METHOD", ""))
            elapsed = time.monotonic() - started
            metrics.REQUESTS.labels(metrics.method_label(method), status).inc()
            metrics.BYTES_SENT.inc(sent)
            metrics.LATENCY.labels(metrics.method_label(method)).observe(elapsed)
            record = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "remote": environ.get("REMOTE_ADDR"),
                "user": environ.get("s3proxy.user"),
                "method": method,
                "target": environ.get("RAW_URI") or environ.get("PATH_INFO"),
                "status": int(status),
                "bytes": sent,
                "duration_ms": round(elapsed * 1000, 2),
                "s3_error": environ.get("s3proxy.s3_error"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            }
            ACCESS_LOG.info(json.dumps(record, ensure_ascii=False))

        return _MeasuredBody(self._app(environ, capture), finish)
