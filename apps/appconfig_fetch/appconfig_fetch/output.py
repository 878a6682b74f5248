"""Turning a fetched configuration into the file the main container reads.

Nothing here may put the value into an exception message or a log line: errors name the JSON
key and the byte length only.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

# Owner read-only: the collector runs as the same uid; nobody else on the node may read it.
OUTPUT_MODE = 0o400


class ValueFormatError(ValueError):
    """The fetched value does not have the expected shape (message never contains the value)."""


def extract_value(content: bytes, json_key: str) -> bytes:
    """The bytes to write: `content` itself, or one field of it when `json_key` is set.

    A string field is written as its UTF-8 text (no quotes); numbers and booleans as JSON.
    """
    if not json_key:
        return content
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        # `from None`: the decode error object carries the document, which is the secret.
        raise ValueFormatError(
            f"APPCONFIG_FETCH_JSON_KEY is set but the value ({len(content)} bytes) is not JSON"
        ) from None
    if not isinstance(document, dict):
        raise ValueFormatError(
            f"APPCONFIG_FETCH_JSON_KEY is set but the value is a JSON {type(document).__name__},"
            " not an object"
        )
    if json_key not in document:
        raise ValueFormatError(f"APPCONFIG_FETCH_JSON_KEY: key {json_key!r} not in the JSON object")
    field = document[json_key]
    if isinstance(field, str):
        return field.encode("utf-8")
    if isinstance(field, bool | int | float):
        return json.dumps(field).encode("utf-8")
    raise ValueFormatError(
        f"APPCONFIG_FETCH_JSON_KEY: key {json_key!r} holds a {type(field).__name__},"
        " expected a string or number"
    )


def write_atomically(path: Path, value: bytes) -> None:
    """Replace `path` with `value` so a reader sees the old file or the new one, never a torn one.

    The temporary file lives in the same directory (rename is atomic only within a filesystem);
    data and directory are fsynced so the new name survives a crash of the node's tmpfs writer.
    """
    directory = path.parent
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, OUTPUT_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
