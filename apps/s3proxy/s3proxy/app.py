"""The ASGI application: adapts requests to the pure decisions and streams S3 bodies.

Served by granian (`python -m s3proxy`). Every path of the content listener is an object key;
probes and metrics live on the management listener (`s3proxy.management`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from werkzeug.datastructures import Authorization, Headers
from werkzeug.sansio.request import Request

from s3proxy import metrics
from s3proxy.access_log import ACCESS_LINES, Exchange, configure_logging
from s3proxy.auth import HtpasswdAuthenticator, PasswordChecks, Verdict
from s3proxy.config import Config, load_config
from s3proxy.keys import key_for_path, request_path
from s3proxy.management import ManagementServer, ReadinessProbe
from s3proxy.s3 import (
    ChecksumMismatch,
    S3CallError,
    S3Client,
    S3Failure,
    S3Response,
    body_checksum,
    classify,
    last_modified,
    metadata,
)
from s3proxy.semantics import (
    ALLOW_HEADER,
    ALLOWED_METHODS,
    Conditions,
    Decision,
    Representation,
    carries_content,
    decide,
    host_problem,
    representation_headers,
    response_headers,
)

_LOG = logging.getLogger("s3proxy.app")
_REALM = 'Basic realm="s3proxy", charset="UTF-8"'
_PINNED_GET_ATTEMPTS = 2  # HeadObject then GetObject(IfMatch): retry once if the object changed
_MAX_LOGGED_USER = 64  # characters of a refused user name written to the log
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
# Request headers the handler reads (ASGI gives lower-case names as bytes).
_CONDITIONAL = (b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since")
_READ = frozenset(
    {
        b"authorization",
        b"content-length",
        b"transfer-encoding",
        b"user-agent",
        b"range",
        b"if-range",
        *_CONDITIONAL,
    }
)


class _S3CallFailed(Exception):
    def __init__(self, failure: S3Failure) -> None:
        super().__init__(failure.code)
        self.failure = failure


class _ClientGone(Exception):
    """The client closed the connection or did not take a chunk within the send timeout."""


def _conditions(req: Request) -> Conditions:
    """The request's conditional headers as Werkzeug parses them (None when absent)."""
    present = req.headers
    return Conditions(
        if_match=req.if_match if "If-Match" in present else None,
        if_none_match=req.if_none_match if "If-None-Match" in present else None,
        if_modified_since=req.if_modified_since,
        if_unmodified_since=req.if_unmodified_since,
        range=req.range,
        if_range=req.if_range if "If-Range" in present else None,
        if_range_is_weak=present.get("If-Range", "").lstrip().startswith("W/"),
    )


def _representation(fields: dict[str, Any]) -> Representation:
    return Representation(
        size=int(fields.get("ContentLength", 0)),
        etag=fields.get("ETag"),
        last_modified=last_modified(fields),
    )


def _encode_headers(headers: dict[str, str], *, close: bool) -> list[tuple[bytes, bytes]]:
    # surrogateescape: S3 header bytes that are not UTF-8 go back out exactly as they came in.
    encoded = [
        (name.lower().encode("latin-1"), value.encode("utf-8", "surrogateescape"))
        for name, value in headers.items()
    ]
    if close:
        encoded.append((b"connection", b"close"))
    return encoded


class ObjectServer:
    """Serves one bucket: authentication, key mapping, S3 calls, decisions, streaming."""

    def __init__(self, config: Config, s3: S3Client) -> None:
        self.config = config
        self.s3 = s3
        self.checks = (
            PasswordChecks(
                HtpasswdAuthenticator(config.htpasswd_file),
                threads=config.auth_check_threads,
                max_pending=config.auth_max_pending,
            )
            if config.htpasswd_file
            else None
        )

    # --- responses ------------------------------------------------------------------------------

    async def _start(
        self, send: Send, exchange: Exchange, status: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        exchange.status = status
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def _plain(
        self,
        send: Send,
        exchange: Exchange,
        status: int,
        text: str,
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        body = (text + "\n").encode()
        all_headers = {
            **(headers or {}),
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": str(len(body)),
        }
        await self._start(send, exchange, status, _encode_headers(all_headers, close=close))
        await send({"type": "http.response.body", "body": body})
        exchange.sent = len(body)

    async def _body(self, send: Send, exchange: Exchange, chunk: bytes, *, more: bool) -> None:
        """Hand one chunk to the server; a client that does not take it in time is cut off."""
        try:
            async with asyncio.timeout(self.config.send_timeout):
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        except TimeoutError as error:
            raise _ClientGone("client did not read within the send timeout") from error
        except OSError as error:
            raise _ClientGone(str(error)) from error
        exchange.sent += len(chunk)

    # --- the request ----------------------------------------------------------------------------

    async def handle(self, scope: dict[str, Any], send: Send, exchange: Exchange) -> None:
        """Answer one request on the content listener."""
        hosts: list[str] = []
        read: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name == b"host":
                hosts.append(value.decode("latin-1"))
            elif name in _READ:
                read[name] = value.decode("latin-1")
        exchange.user_agent = read.get(b"user-agent")
        # Content is never read: answer, then close, so a trickled body holds nothing.
        close = carries_content(read.get(b"content-length"), read.get(b"transfer-encoding"))
        problem = host_problem(str(scope.get("http_version", "1.1")), hosts)
        if problem is not None:
            await self._plain(send, exchange, 400, problem, close=True)
            return
        method = exchange.method
        if method not in ALLOWED_METHODS:
            await self._plain(
                send, exchange, 405, "method not allowed", {"Allow": ALLOW_HEADER}, close=close
            )
            return
        if self.checks is not None and not await self._authenticated(
            send, exchange, read.get(b"authorization"), close=close
        ):
            return
        result = key_for_path(
            request_path(exchange.target),
            prefix=self.config.prefix,
            index_document=self.config.index_document,
        )
        if result.key is None:
            await self._plain(send, exchange, result.status, result.reason, close=close)
            return
        conditions = Conditions()
        if b"range" in read or any(name in read for name in _CONDITIONAL):
            conditions = _conditions(_werkzeug_request(scope))
        try:
            await self._serve(send, exchange, method, result.key, conditions, close=close)
        except _S3CallFailed as failed:
            status = failed.failure.status
            await self._plain(send, exchange, status, _reason_text(status), close=close)

    async def _authenticated(
        self, send: Send, exchange: Exchange, header: str | None, *, close: bool
    ) -> bool:
        """True when the request may proceed; otherwise the 401/503 has been sent."""
        assert self.checks is not None
        credentials = Authorization.from_header(header) if header else None
        if credentials is None or credentials.type != "basic":
            metrics.AUTH_FAILURES.labels("missing").inc()
            await self._plain(
                send,
                exchange,
                401,
                "authentication required",
                {"WWW-Authenticate": _REALM},
                close=close,
            )
            return False
        user, password = credentials.username or "", credentials.password or ""
        verdict = await self.checks.verify(user, password, now=time.monotonic())
        if verdict is Verdict.VALID:
            exchange.user = user
            return True
        # The user name only (bounded, quoted by %r); never the password.
        shown = user[:_MAX_LOGGED_USER]
        metrics.AUTH_FAILURES.labels(verdict.value).inc()
        if verdict is Verdict.BUSY:
            _LOG.warning("authentication refused unchecked (checks busy): user=%r", shown)
            await self._plain(
                send,
                exchange,
                503,
                "busy checking credentials, retry",
                {"Retry-After": "1"},
                close=close,
            )
            return False
        _LOG.warning("authentication failed: user=%r remote=%s", shown, exchange.remote)
        await self._plain(
            send, exchange, 401, "invalid credentials", {"WWW-Authenticate": _REALM}, close=close
        )
        return False

    async def _call(
        self, exchange: Exchange, method: str, key: str, headers: dict[str, str]
    ) -> S3Response:
        try:
            return await self.s3.call(method, key, headers)
        except S3CallError as error:
            failure = classify(error, access_denied_status=self.config.access_denied_status)
            metrics.S3_ERRORS.labels(failure.code).inc()
            exchange.s3_error = failure.code
            raise _S3CallFailed(failure) from error

    async def _serve(
        self,
        send: Send,
        exchange: Exchange,
        method: str,
        key: str,
        conditions: Conditions,
        *,
        close: bool,
    ) -> None:
        if method == "HEAD":
            head = await self._call(exchange, "HEAD", key, {})
            head.close()
            fields = metadata(head.headers)
            representation = _representation(fields)
            decision = decide("HEAD", representation, conditions)
            await self._answer(send, exchange, decision, representation, fields, close=close)
            return
        if not conditions.any:
            # The common case costs one S3 call: nothing to decide from metadata first.
            got = await self._call(exchange, "GET", key, {})
            try:
                fields = metadata(got.headers)
            except BaseException:
                got.close()  # the connection goes back (or away) whatever happens
                raise
            await self._stream(
                send,
                exchange,
                got,
                decision=Decision(200),
                representation=_representation(fields),
                fields=fields,
                close=close,
            )
            return
        for _attempt in range(_PINNED_GET_ATTEMPTS):
            head = await self._call(exchange, "HEAD", key, {})
            head.close()
            fields = metadata(head.headers)
            representation = _representation(fields)
            decision = decide("GET", representation, conditions)
            if decision.status not in (200, 206):
                await self._answer(send, exchange, decision, representation, fields, close=close)
                return
            pinned: dict[str, str] = {"If-Match": fields["ETag"]} if fields.get("ETag") else {}
            if decision.byte_range is not None:
                start, stop = decision.byte_range
                pinned["Range"] = f"bytes={start}-{stop - 1}"
            try:
                got = await self._call(exchange, "GET", key, pinned)
            except _S3CallFailed as failed:
                if failed.failure.status == 412:
                    exchange.s3_error = None
                    continue  # replaced between HeadObject and GetObject: decide again
                raise
            await self._stream(
                send,
                exchange,
                got,
                decision=decision,
                representation=representation,
                fields=fields,
                close=close,
            )
            return
        await self._plain(
            send, exchange, 503, "object is changing, retry", {"Retry-After": "1"}, close=close
        )

    async def _answer(
        self,
        send: Send,
        exchange: Exchange,
        decision: Decision,
        representation: Representation,
        fields: dict[str, Any],
        *,
        close: bool,
    ) -> None:
        """A response without the object's body: HEAD, 304, 412, 416."""
        headers = response_headers(decision, representation, representation_headers(fields))
        if decision.status == 412:
            await self._plain(send, exchange, 412, "precondition failed", headers, close=close)
        elif decision.status == 416:
            await self._plain(send, exchange, 416, "range not satisfiable", headers, close=close)
        else:
            await self._start(
                send, exchange, decision.status, _encode_headers(headers, close=close)
            )
            await send({"type": "http.response.body", "body": b""})

    async def _stream(
        self,
        send: Send,
        exchange: Exchange,
        got: S3Response,
        *,
        decision: Decision,
        representation: Representation,
        fields: dict[str, Any],
        close: bool,
    ) -> None:
        """Send S3's body: small ones whole, large ones chunk by chunk (memory ~ one chunk).

        When S3 sent a full-object checksum the body is verified: a small body before anything
        is sent (502 on mismatch), a large one before its last chunk leaves, so a corrupted
        object always ends in a cut connection, never in a complete-looking response.
        """
        plain_headers = response_headers(decision, representation, representation_headers(fields))
        length = got.headers.get("Content-Length")
        if length is None:
            # S3 always sends Content-Length; a stand-in that streams chunked gets the same
            # treatment back: no length promised, the server frames the body.
            plain_headers.pop("Content-Length", None)
        headers = _encode_headers(plain_headers, close=close)
        checksum = body_checksum(got.headers) if got.status == 200 else None
        try:
            if length is not None and int(length) <= self.config.chunk_size:
                body = await got.read_all()
                if checksum is not None:
                    _verify(checksum, body, final=True)
                await self._start(send, exchange, decision.status, headers)
                await self._body(send, exchange, body, more=False)
                return
            await self._start(send, exchange, decision.status, headers)
            await self._send_chunks(send, exchange, got, checksum)
        except ChecksumMismatch:
            metrics.S3_ERRORS.labels("ChecksumMismatch").inc()
            exchange.s3_error = "ChecksumMismatch"
            _LOG.error("body from S3 does not match its checksum: %s", exchange.target)
            if exchange.status == 0:
                await self._plain(send, exchange, 502, _reason_text(502), close=close)
                return
            raise
        except _ClientGone:
            raise
        except Exception as error:
            code = _stream_error_code(error)
            metrics.S3_ERRORS.labels(code).inc()
            exchange.s3_error = code
            _LOG.error("stream from S3 aborted: %s", code)
            if exchange.status == 0:
                await self._plain(send, exchange, 502, _reason_text(502), close=close)
                return
            raise
        finally:
            got.close()

    async def _send_chunks(
        self, send: Send, exchange: Exchange, got: S3Response, checksum: tuple[Any, str] | None
    ) -> None:
        """Copy a large body chunk by chunk; the last one leaves only once the checksum held."""
        pending: bytes | None = None
        async for chunk in got.chunks(self.config.chunk_size):
            if checksum is not None:
                _verify(checksum, chunk, final=False)
            if pending is not None:
                await self._body(send, exchange, pending, more=True)
            pending = chunk
        if checksum is not None:
            _verify(checksum, b"", final=True)
        await self._body(send, exchange, pending or b"", more=False)


def _verify(checksum: tuple[Any, str], chunk: bytes, *, final: bool) -> None:
    calculator, expected = checksum
    if chunk:
        calculator.update(chunk)
    if final and calculator.b64digest() != expected:
        raise ChecksumMismatch(expected)


def _stream_error_code(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "ReadTimeoutError"
    return type(error).__name__


def _werkzeug_request(scope: dict[str, Any]) -> Request:
    """A Werkzeug request over the ASGI scope, for its conditional and Range parsing."""
    headers = Headers(
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
    )
    return Request(
        method=scope["method"],
        scheme=scope.get("scheme", "http"),
        server=None,
        root_path="",
        path="/",
        query_string=b"",
        headers=headers,
        remote_addr=None,
    )


def _raw_target(scope: dict[str, Any]) -> str:
    """The request target as the client sent it (path and query), for keys and the log."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("path", "/")
    query = scope.get("query_string") or b""
    if query and "?" not in path:
        return f"{path}?{query.decode('latin-1')}"
    return str(path)


class ProxyApp:
    """The ASGI callable: lifespan starts the S3 pool and the management listener."""

    def __init__(self, config: Config, *, start_management: bool = True) -> None:
        self.config = config
        self.s3 = S3Client(config)
        self.objects = ObjectServer(config, self.s3)
        readiness = ReadinessProbe(
            self.s3.botocore_client, config.bucket, config.ready_cache_seconds, config.prefix
        )
        self.management = ManagementServer(config, readiness) if start_management else None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], send: Send) -> None:
        client = scope.get("client")
        exchange = Exchange(
            method=scope["method"],
            target=_raw_target(scope),
            remote=client[0] if client else None,
            user_agent=None,
        )
        try:
            await self.objects.handle(scope, send, exchange)
        except _ClientGone as gone:
            _LOG.info("client gone mid-response: %s", gone)
        except Exception as error:
            if exchange.status:
                raise  # headers are gone: the server cuts the connection, the client sees it
            _LOG.exception("unexpected error: %s", type(error).__name__)
            await self.objects._plain(send, exchange, 500, "internal error", close=True)
        finally:
            exchange.record()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": repr(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Open the S3 pool and bind the management port (in the worker's event loop)."""
        await self.s3.start()
        if self.management is not None:
            await self.management.start()

    async def shutdown(self) -> None:
        """Close the management listener, the S3 pool and the password-check threads."""
        if self.management is not None:
            await self.management.stop()
        await self.s3.close()
        if self.objects.checks is not None:
            self.objects.checks.close()
        ACCESS_LINES.flush()


def create_app(environ: dict[str, str] | None = None) -> ProxyApp:
    """The app of one worker, configured from the environment (granian's factory target)."""
    configure_logging()
    return ProxyApp(load_config(os.environ if environ is None else environ))


def _reason_text(status: int) -> str:
    return {
        403: "access denied",
        404: "not found",
        412: "precondition failed",
        416: "range not satisfiable",
        502: "bad gateway: S3 unreachable or failing",
        504: "gateway timeout: S3 did not answer in time",
    }.get(status, "error")
