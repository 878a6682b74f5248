"""The management listener: /healthz, /readyz and /metrics on their own port, never content.

It runs in every worker's event loop (aiohttp's server, `SO_REUSEPORT` so several workers can
share the port), so a liveness probe is answered by the same loop that serves content: a stuck
loop fails its probe. The content listener has no reserved paths at all; this one serves no
object and needs no credentials, and the chart never routes it through the Service or Ingress.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from s3proxy import metrics
from s3proxy.config import Config
from s3proxy.s3 import classify

MANAGEMENT_PATHS = ("/healthz", "/health", "/readyz", "/metrics")


@dataclass
class ReadinessProbe:
    """One ListObjectsV2 under the served prefix, at most once per `ttl_s`, shared by all threads.

    Not HeadBucket: S3 authorizes HeadBucket as s3:ListBucket *without* an s3:prefix, so a role
    scoped to one prefix (as S3ProxyRelease grants it) would never become ready.
    """

    client: Any
    bucket: str
    ttl_s: float
    prefix: str = ""
    _checked_at: float = field(default=float("-inf"), init=False)
    _ready: bool = field(default=False, init=False)
    _reason: str = field(default="not checked yet", init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def check(self, now: float) -> tuple[bool, str]:
        """(ready, reason); calls S3 only when the cached answer is older than the TTL."""
        with self._lock:
            if now - self._checked_at < self.ttl_s:
                return self._ready, self._reason
            try:
                self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
                self._ready, self._reason = True, "ok"
            except Exception as error:  # any failure means "not ready"
                failure = classify(error, access_denied_status=403)
                metrics.S3_ERRORS.labels(failure.code).inc()
                self._ready, self._reason = False, f"ListObjectsV2 failed: {failure.code}"
            self._checked_at = now
            return self._ready, self._reason


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def management_app(readiness: ReadinessProbe) -> web.Application:
    """The aiohttp application: GET/HEAD only (aiohttp answers 405 with Allow otherwise)."""

    async def healthz(_request: web.Request) -> web.Response:
        # Liveness: this worker's loop answers. No S3 call.
        return _text(200, "ok")

    async def readyz(_request: web.Request) -> web.Response:
        # Readiness: S3 answered a listing under the prefix recently (a blocking call: a thread).
        ready, reason = await asyncio.to_thread(readiness.check, time.monotonic())
        return _text(200 if ready else 503, reason)

    async def prometheus(_request: web.Request) -> web.Response:
        payload, content_type = metrics.exposition()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/health", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    return app


class ManagementServer:
    """Starts and stops the management listener inside the current event loop."""

    def __init__(self, config: Config, readiness: ReadinessProbe) -> None:
        self._config = config
        # Probes and scrapes send their request at once; nothing may idle here for long.
        self._runner = web.AppRunner(
            management_app(readiness), access_log=None, keepalive_timeout=5
        )

    async def start(self) -> None:
        """Bind the management port (shared by the workers of this pod)."""
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self._config.bind_address,
            self._config.management_port,
            reuse_port=True,
        )
        await site.start()

    async def stop(self) -> None:
        """Close the listener."""
        await self._runner.cleanup()
