"""Types the emulator's tests share (imported by name; the constants are tests.support.constants)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# `client("appconfig", validate=False, region_name=...)`, the `client` fixture's type.
ClientFactory = Callable[..., Any]
