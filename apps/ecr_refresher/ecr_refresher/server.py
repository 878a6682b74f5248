"""A small HTTP server: /healthz (loop alive), /readyz (first refresh done), /metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The run loop beats at least every few seconds; this much silence means it is stuck.
STALE_AFTER_S = 120.0


class Health:
    """Liveness (the run loop's heartbeat) and readiness (the first refresh pass finished)."""

    def __init__(self, stale_after_s: float = STALE_AFTER_S) -> None:
        self.stale_after_s = stale_after_s
        self.ready = threading.Event()
        self._heartbeat = time.monotonic()

    def beat(self) -> None:
        """The run loop is alive."""
        self._heartbeat = time.monotonic()

    def alive(self) -> bool:
        """Whether the run loop beat recently."""
        return time.monotonic() - self._heartbeat < self.stale_after_s


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def make_app(registry: CollectorRegistry, health: Health) -> WSGIApp:
    """The WSGI app; /metrics is prometheus_client's own exposition."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            ok = health.alive()
            return _plain(
                start_response,
                "200 OK" if ok else "503 Service Unavailable",
                "ok\n" if ok else "run loop stalled\n",
            )
        if path == "/readyz":
            ok = health.ready.is_set()
            return _plain(
                start_response,
                "200 OK" if ok else "503 Service Unavailable",
                "ready\n" if ok else "first refresh not done\n",
            )
        if path == "/metrics":
            body: Iterable[bytes] = metrics_app(environ, start_response)
            return body
        return _plain(start_response, "404 Not Found", "not found\n")

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the JSON logs."""


def serve_in_background(app: WSGIApp, port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104
    """Serve `app` on `host:port` from a daemon thread; returns the server (for shutdown)."""
    server = make_server(
        host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
