"""Pure HTTP decisions (RFC 9110): which status, which byte range, which headers.

Nothing here does I/O. The Flask view parses the request with Werkzeug (`request.range`,
`request.if_match`, ...), asks `decide()` what to answer, and only adapts the result.

Multi-range requests (`bytes=0-1,5-6`) are answered 200 with the whole representation, which
RFC 9110 §14.2 allows ("a server MAY ignore the Range header field"); no multipart/byteranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.datastructures import ETags, IfRange, Range
from werkzeug.http import http_date

ALLOWED_METHODS = ("GET", "HEAD")
ALLOW_HEADER = ", ".join(ALLOWED_METHODS)

# Representation metadata copied from S3 to the client (an allow-list: hop-by-hop headers such
# as Connection, Keep-Alive, Transfer-Encoding or Upgrade can never cross the proxy).
_FORWARDED_METADATA = {
    "ETag": "ETag",
    "CacheControl": "Cache-Control",
    "ContentType": "Content-Type",
    "ContentEncoding": "Content-Encoding",
    "ContentDisposition": "Content-Disposition",
    "ContentLanguage": "Content-Language",
    "ExpiresString": "Expires",
}

# RFC 9110 §7.6.1 plus the de facto ones; dropped if anything ever tries to forward them.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class Representation:
    """What S3 says about the selected object (from HeadObject or GetObject)."""

    size: int
    etag: str | None = None  # quoted, as S3 sends it: '"abc"'
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Conditions:
    """The request's conditional and range headers, as Werkzeug parsed them (None = absent)."""

    if_match: ETags | None = None
    if_none_match: ETags | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    range: Range | None = None
    if_range: IfRange | None = None
    # Werkzeug's IfRange drops the W/ flag; a weak If-Range must never enable a Range.
    if_range_is_weak: bool = False

    @property
    def any(self) -> bool:
        """True when the answer depends on the object's metadata, not only on its existence."""
        return any(
            value is not None
            for value in (
                self.if_match,
                self.if_none_match,
                self.if_modified_since,
                self.if_unmodified_since,
                self.range,
            )
        )


@dataclass(frozen=True)
class Decision:
    """What to answer: a status and, for 206, the half-open byte range [start, stop)."""

    status: int
    byte_range: tuple[int, int] | None = None

    def content_range(self, size: int) -> str | None:
        """The Content-Range header value for 206 and 416, else None."""
        if self.status == 206 and self.byte_range is not None:
            start, stop = self.byte_range
            return f"bytes {start}-{stop - 1}/{size}"
        if self.status == 416:
            return f"bytes */{size}"
        return None


def _opaque(etag: str | None) -> str | None:
    """The opaque tag without quotes or W/ prefix, the form Werkzeug's ETags stores."""
    if etag is None:
        return None
    return etag.removeprefix("W/").strip('"')


def _seconds(moment: datetime) -> datetime:
    """HTTP dates have one-second resolution; compare at that resolution."""
    return moment.replace(microsecond=0)


def resolve_range(requested: Range, size: int) -> Decision:
    """Apply a parsed Range header to a representation of `size` bytes (RFC 9110 §14.1.2).

    One satisfiable range -> 206; only unsatisfiable ones -> 416; several ranges -> 200 (whole).
    """
    if requested.units != "bytes" or len(requested.ranges) != 1:
        return Decision(200)
    start, stop = requested.ranges[0]
    if start < 0:  # suffix range "bytes=-N": the last N bytes (all of them if N > size)
        if size == 0:
            return Decision(416)
        return Decision(206, (max(size + start, 0), size))
    if start >= size:
        return Decision(416)
    return Decision(206, (start, size if stop is None else min(stop, size)))


def _if_range_allows(conditions: Conditions, representation: Representation) -> bool:
    """RFC 9110 §13.1.5: apply the Range only if the validator still names this representation."""
    if_range = conditions.if_range
    if conditions.if_range_is_weak:
        return False
    if if_range is None or (if_range.etag is None and if_range.date is None):
        return True
    if if_range.etag is not None:
        # Strong comparison; a weak tag in If-Range never matches.
        etag = representation.etag
        return etag is not None and not etag.startswith("W/") and _opaque(etag) == if_range.etag
    last_modified = representation.last_modified
    assert if_range.date is not None
    return last_modified is not None and _seconds(last_modified) == _seconds(if_range.date)


def decide(method: str, representation: Representation, conditions: Conditions) -> Decision:
    """The status to answer, applying RFC 9110 precedence exactly once.

    RFC 9110 §13.2.2 (precedence of preconditions), after the method check of §9.1:
      1. method not GET/HEAD                     -> 405
      2. If-Match fails (strong comparison)       -> 412
         else, without If-Match, If-Unmodified-Since fails -> 412
      3. If-None-Match matches (weak comparison)  -> 304
         else, without If-None-Match, If-Modified-Since not modified -> 304
      4. Range on GET (HEAD ignores it, §14.2), honouring If-Range (§13.1.5)
                                                  -> 206 / 416 (or 200 for multi-range)
      5. otherwise                                -> 200
    """
    if method not in ALLOWED_METHODS:
        return Decision(405)
    if _precondition_fails(representation, conditions):
        return Decision(412)
    if _not_modified(representation, conditions):
        return Decision(304)
    if (
        method == "GET"
        and conditions.range is not None
        and _if_range_allows(conditions, representation)
    ):
        return resolve_range(conditions.range, representation.size)
    return Decision(200)


def _precondition_fails(representation: Representation, conditions: Conditions) -> bool:
    """RFC 9110 §13.2.2 steps 1-2: If-Match (strong), else If-Unmodified-Since."""
    if conditions.if_match is not None:
        if conditions.if_match.star_tag:
            return False
        etag = representation.etag
        strong = etag is not None and not etag.startswith("W/")
        return not (strong and conditions.if_match.contains(_opaque(etag) or ""))
    last_modified = representation.last_modified
    if conditions.if_unmodified_since is None or last_modified is None:
        return False
    return _seconds(last_modified) > _seconds(conditions.if_unmodified_since)


def _not_modified(representation: Representation, conditions: Conditions) -> bool:
    """RFC 9110 §13.2.2 steps 3-4: If-None-Match (weak), else If-Modified-Since."""
    if conditions.if_none_match is not None:
        etag = _opaque(representation.etag)
        return conditions.if_none_match.star_tag or (
            etag is not None and conditions.if_none_match.contains_weak(etag)
        )
    last_modified = representation.last_modified
    if conditions.if_modified_since is None or last_modified is None:
        return False
    return _seconds(last_modified) <= _seconds(conditions.if_modified_since)


def representation_headers(s3_response: Mapping[str, Any]) -> dict[str, str]:
    """Client-facing metadata headers from a boto3 HeadObject/GetObject response (allow-list)."""
    headers = {
        header: str(s3_response[field])
        for field, header in _FORWARDED_METADATA.items()
        if s3_response.get(field)
    }
    last_modified = s3_response.get("LastModified")
    if isinstance(last_modified, datetime):
        headers["Last-Modified"] = format_http_date(last_modified)
    headers.setdefault("Content-Type", "application/octet-stream")
    return {name: value for name, value in headers.items() if name.lower() not in HOP_BY_HOP}


def format_http_date(moment: datetime) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7)."""
    return http_date(moment)


def response_headers(
    decision: Decision, representation: Representation, metadata: Mapping[str, str]
) -> dict[str, str]:
    """The headers for a decision: metadata, Accept-Ranges, Content-Length, Content-Range."""
    if decision.status == 304:
        # RFC 9110 §15.4.5: only the validators and caching headers a 200 would have carried.
        keep = {"ETag", "Cache-Control", "Expires", "Content-Location", "Vary"}
        return {name: value for name, value in metadata.items() if name in keep}
    headers = dict(metadata)
    headers["Accept-Ranges"] = "bytes"
    content_range = decision.content_range(representation.size)
    if content_range is not None:
        headers["Content-Range"] = content_range
    if decision.status == 206 and decision.byte_range is not None:
        headers["Content-Length"] = str(decision.byte_range[1] - decision.byte_range[0])
    elif decision.status == 200:
        headers["Content-Length"] = str(representation.size)
    else:  # 412 / 416: a short body of our own, not the object
        for name in ("Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language"):
            headers.pop(name, None)
    return headers


def host_problem(http_version: str, host_values: list[str]) -> str | None:
    """Why a request's Host header makes it a 400, or None when it is acceptable.

    RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host header, and
    to any request with more than one Host line or an invalid Host value. An http(s) target
    always has an authority, so an empty Host is as good as none (some servers hand the app
    `Host: ""` when the client sent none). HTTP/1.0 may omit it (granian reports it as "1").
    """
    if len(host_values) > 1:
        return "more than one Host header"
    value = host_values[0] if host_values else ""
    if not value:
        return None if http_version in ("1.0", "1") else "HTTP/1.1 request without a Host header"
    # uri-host [":" port] never holds whitespace, "/", "\\", "?", "#" or "@".
    if any(char in value for char in " \t/\\?#@") or not value.isprintable():
        return "invalid Host header"
    return None


def carries_content(content_length: str | None, transfer_encoding: str | None) -> bool:
    """True when the request has content (RFC 9112 §6.3); the proxy never reads it.

    GET and HEAD content has no meaning here (RFC 9110 §9.3.1), so the proxy answers without
    reading it and closes the connection: a client trickling a body cannot hold the connection.
    """
    if transfer_encoding is not None:
        return True
    return content_length is not None and content_length.strip() not in ("", "0")
