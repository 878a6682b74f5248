"""The one seam between Berth and Helm.

Everything Berth asks of Helm (lint, package, render, digest, read an index, pull) goes through
these functions. Today they call the Helm v4 Go SDK through `helm-python-sdk` (alpha, one
maintainer); swapping in the `helm` CLI means rewriting this file only.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from berth_core.errors import BerthError

_LINT_ERROR = 3
_LINT_WARNING = 2

# A line of Go's default logger below WARN, as the SDK's `log/slog` default handler writes it:
# `2026/01/02 15:04:05 INFO funcMap fail message="..."`.
_GO_LOG_BELOW_WARN = re.compile(rb"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? (DEBUG|INFO) ")

_log = logging.getLogger(__name__)


class HelmError(BerthError):
    """Helm refused a chart, values or repository; the message says why."""


def _sdk() -> Any:
    # Imported lazily: the native library is large and most `berth` commands never need it.
    import helm_python

    return helm_python


@dataclass(frozen=True)
class LintReport:
    """What `helm lint` found: errors fail a publish, warnings are shown."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@contextmanager
def _go_log_below_warn_dropped() -> Iterator[None]:
    """Keep the Go SDK's INFO and DEBUG log lines off stderr; pass everything else on.

    In lint mode Helm's template engine turns each `fail` and `required` of a chart into a log
    line instead of an error (`INFO funcMap fail message=...`): with a chart's own defaults,
    its install-time checks all fire. The SDK writes them through Go's default `log/slog`
    logger straight to file descriptor 2; `helm_python.enable_logging` does not reach that
    logger. So file descriptor 2 points at a temporary file for the call, and afterwards the
    lines below WARN go to this module's logger at DEBUG and the rest back to stderr, in order.
    Lint findings are unaffected: they come back in the report.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured:
                if _GO_LOG_BELOW_WARN.match(line):
                    _log.debug("helm: %s", line.decode(errors="replace").rstrip())
                else:
                    os.write(2, line)


def lint(
    chart_dir: Path, values: dict[str, Any] | None = None, *, strict: bool = False
) -> LintReport:
    """`helm lint`: errors and warnings in the report; the engine's INFO lines kept off stderr."""
    sdk = _sdk()
    try:
        with _go_log_below_warn_dropped():
            report = sdk.lint(str(chart_dir), values, strict=strict)
    except sdk.HelmError as error:
        return LintReport(errors=[str(error)])
    errors = [str(e) for e in report.get("errors") or []]
    warnings: list[str] = []
    for message in report.get("messages") or []:
        text = f"{message.get('path', '')}: {message.get('error', '')}".strip(": ")
        if message.get("severity") == _LINT_ERROR and text not in errors:
            errors.append(text)
        elif message.get("severity") == _LINT_WARNING:
            warnings.append(text)
    return LintReport(errors=errors, warnings=warnings)


def package(chart_dir: Path, destination: Path) -> Path:
    """Package a chart directory into `destination/NAME-VERSION.tgz`; returns the archive path."""
    sdk = _sdk()
    destination.mkdir(parents=True, exist_ok=True)
    try:
        return Path(sdk.package(str(chart_dir), destination=str(destination)))
    except sdk.HelmError as error:
        raise HelmError(f"{chart_dir}: cannot package: {error}") from error


def chart_metadata(chart_dir_or_archive: Path | bytes) -> dict[str, Any]:
    """Chart.yaml of a chart directory, or of a packaged chart given as archive bytes."""
    sdk = _sdk()
    try:
        if isinstance(chart_dir_or_archive, bytes):
            chart = sdk.Chart.load_archive(chart_dir_or_archive)
        else:
            chart = sdk.Chart.load(str(chart_dir_or_archive))
        return dict(chart.metadata)
    except sdk.HelmError as error:
        raise HelmError(f"not a Helm chart: {error}") from error


def digest(archive: Path) -> str:
    """The sha256 digest Helm writes into index entries."""
    return str(_sdk().digest(str(archive)))


def render(
    chart: Path | bytes,
    values: dict[str, Any] | None = None,
    *,
    release_name: str = "release",
    namespace: str = "default",
) -> list[dict[str, Any]]:
    """Render a chart offline (no cluster) into its manifests, in a stable order.

    Values are checked against the chart's values.schema.json first, as `helm install` does.
    """
    sdk = _sdk()
    try:
        loaded = (
            sdk.Chart.load_archive(chart)
            if isinstance(chart, bytes)
            else sdk.Chart.load(str(chart))
        )
        loaded.validate_schema(values or {})
        rendered: dict[str, str] = loaded.render(
            values or {}, name=release_name, namespace=namespace, is_install=True
        )
    except sdk.HelmError as error:
        raise HelmError(str(error)) from error
    manifests: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(rendered[path]) if doc)
    return manifests


def render_notes(chart: Path, values: dict[str, Any] | None = None, **kwargs: str) -> str:
    """The rendered NOTES.txt of a chart ("" when it has none)."""
    sdk = _sdk()
    rendered: dict[str, str] = sdk.Chart.load(str(chart)).render(values or {}, **kwargs)
    return next((text for path, text in rendered.items() if path.endswith("NOTES.txt")), "")


def fetch_index(
    repo_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    insecure_skip_tls_verify: bool = False,
) -> dict[str, Any]:
    """Download and parse a repository's index.yaml the way a Helm client does."""
    sdk = _sdk()
    try:
        return dict(
            sdk.repo_index(
                repo_url,
                username=username,
                password=password,
                insecure_skip_tls_verify=insecure_skip_tls_verify,
            )
        )
    except sdk.HelmError as error:
        raise HelmError(f"{repo_url}: {error}") from error


def pull(
    chart_name: str,
    repo_url: str,
    destination: Path,
    *,
    version: str | None = None,
    username: str | None = None,
    password: str | None = None,
    insecure_skip_tls_verify: bool = False,
) -> Path:
    """Download a chart from an HTTP(S) repository the way `helm pull` does; returns the archive."""
    sdk = _sdk()
    destination.mkdir(parents=True, exist_ok=True)
    try:
        sdk.pull(
            chart_name,
            repo_url=repo_url,
            version=version,
            destination=str(destination),
            username=username,
            password=password,
            insecure_skip_tls_verify=insecure_skip_tls_verify,
        )
    except sdk.HelmError as error:
        raise HelmError(f"{repo_url}: cannot pull {chart_name} {version or ''}: {error}") from error
    archives = sorted(destination.glob(f"{chart_name}-*.tgz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise HelmError(f"{repo_url}: pull of {chart_name} wrote no archive")
    return archives[-1]
