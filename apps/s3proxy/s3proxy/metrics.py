"""Prometheus metrics. Labels are bounded (method, status, S3 error code): never keys or users.

With several workers, `python -m s3proxy` sets PROMETHEUS_MULTIPROC_DIR before this
module is imported so every worker's samples are aggregated on /metrics.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter("s3proxy_requests", "HTTP requests answered", ["method", "status"])
BYTES_SENT = Counter("s3proxy_response_body_bytes", "Response body bytes sent to clients")
LATENCY = Histogram(
    "s3proxy_request_duration_seconds",
    "Time from request to last byte sent",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
S3_ERRORS = Counter("s3proxy_s3_errors", "Failed S3 calls by error code", ["code"])
# reason: "missing" (no basic credentials), "invalid" (wrong password or unknown user),
# "busy" (refused unchecked: too many credentials already waiting for a bcrypt check).
AUTH_FAILURES = Counter(
    "s3proxy_auth_failures", "Requests refused by authentication, by reason", ["reason"]
)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def method_label(method: str) -> str:
    """The method as a metric label; unknown methods share one label (bounded cardinality)."""
    return method if method in _KNOWN_METHODS else "OTHER"


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process (or of all workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
