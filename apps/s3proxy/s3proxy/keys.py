"""Map a request target to an S3 key (pure).

The key is the URL path percent-decoded exactly once: `+` stays a plus, `%2B` becomes a plus,
`%2F` becomes a slash inside the key, `%252F` becomes the three characters `%2F`. That is why
the view reads the raw request target (gunicorn's `RAW_URI`) and not `PATH_INFO`, which the
server has already decoded and in which `%2F` and `/` can no longer be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Path segments that would let a key climb out of the configured prefix if anything on the
# way (a client, an ingress, a later S3 gateway) normalised the path.
_DOT_SEGMENTS = frozenset({".", ".."})
_MAX_KEY_BYTES = 1024  # S3's own limit on key length


@dataclass(frozen=True)
class KeyResult:
    """Either an S3 key to fetch, or the client error status with a reason."""

    key: str | None
    status: int = 200
    reason: str = ""


def request_path(raw_uri: str) -> str:
    """The still-encoded path of a request target (origin-form or absolute-form), no query."""
    if raw_uri.startswith(("http://", "https://")):
        return urlsplit(raw_uri).path or "/"
    return raw_uri.split("?", 1)[0].split("#", 1)[0]


def key_for_path(encoded_path: str, *, prefix: str = "", index_document: str = "") -> KeyResult:
    """The S3 key for an encoded URL path, or a 400/404 decision.

    One leading slash is removed (S3 keys may themselves start with "/" after that). `prefix`
    must already be normalised ("" or "dir/"). Paths that are empty or end in "/" name the
    index document, or nothing (404) when none is configured.
    """
    try:
        decoded = unquote(encoded_path, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return KeyResult(None, 400, "path is not valid UTF-8 after percent-decoding")
    if "\x00" in decoded:
        return KeyResult(None, 400, "path contains a NUL byte")
    relative = decoded.removeprefix("/")
    if any(segment in _DOT_SEGMENTS for segment in relative.split("/")):
        return KeyResult(None, 400, "path contains '.' or '..' segments")
    if relative == "" or relative.endswith("/"):
        if not index_document:
            return KeyResult(None, 404, "no index document configured")
        relative += index_document
    key = prefix + relative
    if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        return KeyResult(None, 400, "key longer than 1024 bytes")
    return KeyResult(key)
