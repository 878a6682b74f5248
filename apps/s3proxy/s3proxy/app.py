"""The Flask application: adapts requests to the pure decisions and streams S3 bodies."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import PathConverter

from s3proxy import metrics
from s3proxy.access_log import AccessLogMiddleware
from s3proxy.auth import HtpasswdAuthenticator
from s3proxy.config import Config
from s3proxy.keys import key_for_path, request_path
from s3proxy.s3 import S3Failure, classify, s3_client
from s3proxy.semantics import (
    ALLOW_HEADER,
    ALLOWED_METHODS,
    Conditions,
    Decision,
    Representation,
    decide,
    representation_headers,
    response_headers,
)

_LOG = logging.getLogger("s3proxy.app")
_REALM = 'Basic realm="s3proxy", charset="UTF-8"'
_PINNED_GET_ATTEMPTS = 2  # HeadObject then GetObject(IfMatch): retry once if the object changed


class _AnyPathConverter(PathConverter):
    """Matches every path, including "", "a//b" and a trailing "/" (S3 keys may hold them)."""

    regex = ".*"
    part_isolating = False  # Werkzeug would infer True from a regex without "/"


class _S3CallFailed(Exception):
    def __init__(self, failure: S3Failure) -> None:
        super().__init__(failure.code)
        self.failure = failure


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


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(text + "\n", status=status, headers=headers, mimetype="text/plain")


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


def _raw_target(environ: dict[str, Any]) -> str:
    """The request target as the client sent it (gunicorn: RAW_URI; others: REQUEST_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    # Last resort for servers that keep only the decoded path: %2F is lost there.
    return quote(str(environ.get("PATH_INFO", "/")), safe="/")


def _representation(s3_response: dict[str, Any]) -> Representation:
    return Representation(
        size=int(s3_response.get("ContentLength", 0)),
        etag=s3_response.get("ETag"),
        last_modified=s3_response.get("LastModified"),
    )


def _stream(body: Any, chunk_size: int) -> Iterator[bytes]:
    """Yield the S3 body chunk by chunk; memory stays at about one chunk per stream."""
    try:
        yield from body.iter_chunks(chunk_size)
    except Exception as error:
        # Headers are gone already: the only honest signal left is to cut the connection.
        failure = classify(error, access_denied_status=502)
        metrics.S3_ERRORS.labels(failure.code).inc()
        _LOG.error("stream from S3 aborted: %s", failure.code)
        raise
    finally:
        body.close()


class ObjectServer:
    """Serves one bucket: authentication, key mapping, S3 calls, decisions, streaming."""

    def __init__(self, config: Config, client: Any) -> None:
        self.config = config
        self.s3 = client
        self.authenticator = (
            HtpasswdAuthenticator(config.htpasswd_file) if config.htpasswd_file else None
        )

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.s3, operation)(
                Bucket=self.config.bucket, **kwargs
            )
            return response
        except Exception as error:
            failure = classify(error, access_denied_status=self.config.access_denied_status)
            metrics.S3_ERRORS.labels(failure.code).inc()
            request.environ["s3proxy.s3_error"] = failure.code
            raise _S3CallFailed(failure) from error

    def authenticate(self) -> Response | None:
        """None when the request may proceed, else the 401 to send."""
        if self.authenticator is None:
            return None
        credentials = request.authorization
        if credentials is None or credentials.type != "basic":
            return _plain(401, "authentication required", {"WWW-Authenticate": _REALM})
        user, password = credentials.username or "", credentials.password or ""
        if not self.authenticator.check(user, password, now=time.monotonic()):
            return _plain(401, "invalid credentials", {"WWW-Authenticate": _REALM})
        request.environ["s3proxy.user"] = user
        return None

    def respond(self) -> Response:
        """The answer to a GET/HEAD on an object path."""
        denied = self.authenticate()
        if denied is not None:
            return denied
        result = key_for_path(
            request_path(_raw_target(request.environ)),
            prefix=self.config.prefix,
            index_document=self.config.index_document,
        )
        if result.key is None:
            return _plain(result.status, result.reason)
        try:
            return self._serve(result.key, _conditions(request))
        except _S3CallFailed as failed:
            return _plain(failed.failure.status, _reason_text(failed.failure.status))

    def _serve(self, key: str, conditions: Conditions) -> Response:
        if request.method == "HEAD":
            head = self._call("head_object", Key=key)
            representation = _representation(head)
            decision = decide("HEAD", representation, conditions)
            return _answer(decision, representation, representation_headers(head))
        if not conditions.any:
            # The common case costs one S3 call: nothing to decide from metadata first.
            got = self._call("get_object", Key=key)
            return self._stream_response(Decision(200), _representation(got), got, got)
        for _attempt in range(_PINNED_GET_ATTEMPTS):
            head = self._call("head_object", Key=key)
            representation = _representation(head)
            decision = decide("GET", representation, conditions)
            if decision.status not in (200, 206):
                return _answer(decision, representation, representation_headers(head))
            pinned: dict[str, str] = {"IfMatch": head["ETag"]} if head.get("ETag") else {}
            if decision.byte_range is not None:
                start, stop = decision.byte_range
                pinned["Range"] = f"bytes={start}-{stop - 1}"
            try:
                got = self._call("get_object", Key=key, **pinned)
            except _S3CallFailed as failed:
                if failed.failure.status == 412:
                    continue  # replaced between HeadObject and GetObject: decide again
                raise
            return self._stream_response(decision, representation, head, got)
        return _plain(503, "object is changing, retry", {"Retry-After": "1"})

    def _stream_response(
        self,
        decision: Decision,
        representation: Representation,
        metadata_source: dict[str, Any],
        got: dict[str, Any],
    ) -> Response:
        headers = response_headers(
            decision, representation, representation_headers(metadata_source)
        )
        return Response(
            _stream(got["Body"], self.config.chunk_size),
            status=decision.status,
            headers=headers,
            direct_passthrough=True,
        )


def _answer(
    decision: Decision, representation: Representation, metadata: dict[str, str]
) -> Response:
    """A response without the object's body: HEAD, 304, 412, 416."""
    headers = response_headers(decision, representation, metadata)
    if decision.status == 412:
        return _plain(412, "precondition failed", headers)
    if decision.status == 416:
        return _plain(416, "range not satisfiable", headers)
    return Response(status=decision.status, headers=headers)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(MethodNotAllowed)
    def method_not_allowed(_error: MethodNotAllowed) -> Response:
        return _plain(405, "method not allowed", {"Allow": ALLOW_HEADER})

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _plain(error.code or 500, error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        _LOG.exception("unexpected error: %s", type(error).__name__)
        return _plain(500, "internal error")


def create_app(config: Config, *, client: Any | None = None) -> Flask:
    """Build the WSGI app. `client` defaults to the process-wide boto3 S3 client."""
    app = Flask("s3proxy")
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.converters["anypath"] = _AnyPathConverter
    s3 = client if client is not None else s3_client(config)
    server = ObjectServer(config, s3)
    readiness = ReadinessProbe(s3, config.bucket, config.ready_cache_seconds, config.prefix)
    route = {"methods": list(ALLOWED_METHODS), "provide_automatic_options": False}

    @app.route("/healthz", **route)
    @app.route("/health", **route)
    def healthz() -> Response:
        """Liveness: the process answers. No S3 call, no auth."""
        return _plain(200, "ok")

    @app.route("/readyz", **route)
    def readyz() -> Response:
        """Readiness: S3 answered a listing under the prefix recently (cached). No auth."""
        ready, reason = readiness.check(time.monotonic())
        return _plain(200 if ready else 503, reason)

    @app.route("/metrics", **route)
    def prometheus_metrics() -> Response:
        """Prometheus exposition. No auth: counters only; no keys, users or paths in labels."""
        payload, content_type = metrics.exposition()
        return Response(payload, content_type=content_type)

    @app.route("/", defaults={"_path": ""}, **route)
    @app.route("/<anypath:_path>", **route)
    def object_view(_path: str) -> Response:
        """Any other path is an object key (re-read from the raw request target)."""
        return server.respond()

    _register_error_handlers(app)
    app.wsgi_app = AccessLogMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _reason_text(status: int) -> str:
    return {
        403: "access denied",
        404: "not found",
        412: "precondition failed",
        416: "range not satisfiable",
        502: "bad gateway: S3 unreachable or failing",
        504: "gateway timeout: S3 did not answer in time",
    }.get(status, "error")
