"""One JSON line per request, and the request metrics, recorded when the response is finished.

Recorded at the end of the exchange (not when the handler returns) because a streamed body is
only finished when its last byte was handed to the server: that is when bytes sent and
duration are known.

Access lines bypass the logging module and are written in batches, at most `_FLUSH_AFTER_S`
after they were recorded (or once `_FLUSH_BYTES` are waiting): one write per batch instead of a
formatted record and a write per request, which cost about a tenth of the CPU of a small GET.
What is given up: a crash loses the lines of its last quarter second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3proxy import metrics

_FLUSH_AFTER_S = 0.25
_FLUSH_BYTES = 64 * 1024


class AccessLines:
    """JSON lines for a file descriptor (stdout), written in batches from the event loop."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, line: str) -> None:
        """Queue one line; it is written within `_FLUSH_AFTER_S`."""
        data = line.encode("utf-8") + b"\n"
        self._lines.append(data)
        self._size += len(data)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a test calling in directly): write at once
                self.flush()
                return
            self._timer = loop.call_later(_FLUSH_AFTER_S, self.flush)

    def flush(self) -> None:
        """Write everything queued."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data, self._lines, self._size = b"".join(self._lines), [], 0
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                continue
            except OSError:
                return  # stdout gone: nothing sensible left to do with the lines
            view = view[written:]


ACCESS_LINES = AccessLines(1)  # stdout


def configure_logging() -> None:
    """The app's messages as plain lines on stderr (access lines go to stdout, see above)."""
    app_log = logging.getLogger("s3proxy")
    if not app_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        app_log.addHandler(handler)
        app_log.setLevel(logging.INFO)
        app_log.propagate = False


@dataclass
class Exchange:
    """What one request did: filled in by the handler, recorded once by `record()`."""

    method: str
    target: str
    remote: str | None
    user_agent: str | None
    started: float = field(default_factory=time.monotonic)
    status: int = 0
    sent: int = 0
    user: str | None = None
    s3_error: str | None = None

    def record(self) -> None:
        """Count the request in the metrics and write its access-log line."""
        elapsed = time.monotonic() - self.started
        method = metrics.method_label(self.method)
        metrics.REQUESTS.labels(method, str(self.status)).inc()
        metrics.BYTES_SENT.inc(self.sent)
        metrics.LATENCY.labels(method).observe(elapsed)
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "remote": self.remote,
            "user": self.user,
            "method": self.method,
            "target": self.target,
            "status": self.status,
            "bytes": self.sent,
            "duration_ms": round(elapsed * 1000, 2),
            "s3_error": self.s3_error,
            "user_agent": self.user_agent,
        }
        ACCESS_LINES.add(json.dumps(record, ensure_ascii=False))
