"""Constants the emulator's tests share (imported by name, as `chart_repo_support` is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REGION = "eu-west-1"
# moto's default account: where the fixed emulator credentials act.
ACCOUNT = "123456789012"
# `client("appconfig", validate=False, region_name=...)`, the `client` fixture's type.
ClientFactory = Callable[..., Any]
