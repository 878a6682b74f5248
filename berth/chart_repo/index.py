"""Helm repository index (`index.yaml`): parse, validate, merge, sort and serialise. Pure: no I/O.

The format is Helm's own (`helm repo index` output): `apiVersion: v1`, `entries` (chart name ->
versions, newest first), `generated`, and per version the Chart.yaml metadata plus `created`,
`digest` (bare sha256 hex) and `urls`. Keys are written sorted, as Helm's YAML marshaller does.
Entries are kept as plain mappings so fields this module does not know survive a round trip.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

API_VERSION = "v1"
INDEX_KEY = "index.yaml"
# Helm's IndexFile fields; anything else means the document is something else.
_TOP_LEVEL_FIELDS = frozenset({"apiVersion", "entries", "generated", "serverInfo", "annotations"})

Entry = dict[str, Any]

# libyaml makes a 5,000-entry index parse and serialise in well under a second.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _IndexLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader that keeps scalars as written: `created` stays a string with its nanoseconds,
    `version: 1.10` stays "1.10". Only null and booleans (`deprecated: true`) are resolved."""


_IndexLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class IndexFormatError(ValueError):
    """The bytes are not a Helm repository index; the message says what is wrong with them."""


@dataclass(frozen=True)
class RepoIndex:
    """A Helm repository index. `entries` maps chart name -> versions (newest first)."""

    entries: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict)
    generated: str = ""
    # Top-level fields other than apiVersion/entries/generated (e.g. `serverInfo`), kept as is.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def find(self, name: str, version: str) -> Entry | None:
        """The entry for one chart version, or None."""
        return next((e for e in self.entries.get(name, ()) if e.get("version") == version), None)

    def all_entries(self) -> Iterable[Entry]:
        for versions in self.entries.values():
            yield from versions

    def __len__(self) -> int:
        return sum(len(versions) for versions in self.entries.values())


# --- time -------------------------------------------------------------------------------------


def rfc3339_nano(epoch_ns: int | None = None) -> str:
    """A UTC timestamp the way Go's time.RFC3339Nano writes it (Helm's `created`/`generated`)."""
    ns = time.time_ns() if epoch_ns is None else epoch_ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


# --- versions ---------------------------------------------------------------------------------

# Lenient like Helm's Masterminds/semver: optional "v", optional minor and patch.
_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def version_sort_key(version: str) -> tuple[Any, ...]:
    """Sort key implementing SemVer 2.0 precedence; anything that is not semver sorts lowest.

    Hand-written: no semver library is in the project's dependencies, and this is 20 lines.
    """
    match = _SEMVER.match(version)
    if not match:
        return (0, version)
    release = tuple(int(match.group(part) or 0) for part in ("major", "minor", "patch"))
    pre = match.group("pre")
    if pre is None:
        # A release ranks above every pre-release of the same version.
        return (1, release, (1,))
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")
    )
    return (1, release, (0, identifiers))


def sort_versions(versions: Iterable[Entry]) -> tuple[Entry, ...]:
    """Newest version first, as Helm's `IndexFile.SortEntries` leaves them."""
    return tuple(sorted(versions, key=lambda e: version_sort_key(str(e["version"])), reverse=True))


# --- entries ----------------------------------------------------------------------------------


def bare_digest(digest: str) -> str:
    """Helm index `digest` fields hold the bare hex; the SDK returns "sha256:<hex>"."""
    return digest.removeprefix("sha256:")


def archive_name(name: str, version: str) -> str:
    """The archive key `helm package` produces and the relative URL the index points at."""
    return f"{name}-{version}.tgz"


def chart_entry(metadata: Mapping[str, Any], *, digest: str, created: str, url: str) -> Entry:
    """An index entry: the chart's Chart.yaml metadata plus where and what the archive is."""
    entry: Entry = {
        key: value for key, value in metadata.items() if value not in (None, "", [], {})
    }
    entry.update(created=created, digest=bare_digest(digest), urls=[url])
    return entry


def entry_archive_key(entry: Mapping[str, Any]) -> str | None:
    """The bucket key an entry's first URL points at (absolute URLs: their last path segment)."""
    urls = entry.get("urls") or []
    if not urls or not isinstance(urls[0], str) or not urls[0]:
        return None
    url: str = urls[0]
    if "://" in url or url.startswith("/"):
        return url.rstrip("/").rsplit("/", 1)[-1] or None
    return url


def is_relative_url(url: str) -> bool:
    return "://" not in url and not url.startswith("/")


# --- merge ------------------------------------------------------------------------------------


def with_entry(index: RepoIndex, entry: Entry) -> RepoIndex:
    """A copy of `index` with `entry` added, replacing any entry of the same name and version."""
    name, version = entry["name"], entry["version"]
    others = [e for e in index.entries.get(name, ()) if e.get("version") != version]
    entries = dict(index.entries)
    entries[name] = sort_versions([*others, entry])
    return RepoIndex(entries=entries, generated=index.generated, extra=index.extra)


def with_entries(index: RepoIndex, new_entries: Iterable[Entry]) -> RepoIndex:
    for entry in new_entries:
        index = with_entry(index, entry)
    return index


def without_entry(index: RepoIndex, name: str, version: str) -> RepoIndex:
    """A copy of `index` without one chart version (a chart with no versions left disappears)."""
    remaining = tuple(e for e in index.entries.get(name, ()) if e.get("version") != version)
    entries = dict(index.entries)
    if remaining:
        entries[name] = remaining
    else:
        entries.pop(name, None)
    return RepoIndex(entries=entries, generated=index.generated, extra=index.extra)


def from_entries(entries: Iterable[Entry], *, base: RepoIndex | None = None) -> RepoIndex:
    """A new index holding exactly `entries` (keeping `base`'s extra top-level fields)."""
    grouped: dict[str, list[Entry]] = {}
    for entry in entries:
        grouped.setdefault(str(entry["name"]), []).append(entry)
    return RepoIndex(
        entries={name: sort_versions(versions) for name, versions in grouped.items()},
        generated=base.generated if base else "",
        extra=base.extra if base else {},
    )


def same_entries(left: RepoIndex, right: RepoIndex) -> bool:
    """True when both indexes list the same versions with the same fields (order aside)."""
    if left.entries.keys() != right.entries.keys():
        return False
    return all(
        sort_versions(left.entries[name]) == sort_versions(right.entries[name])
        for name in left.entries
    )


# --- parse and serialise ----------------------------------------------------------------------


def parse_index(data: bytes) -> RepoIndex:
    """Parse and validate `index.yaml` bytes; raises IndexFormatError for anything not Helm's."""
    try:
        document = yaml.load(data, Loader=_IndexLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise IndexFormatError(f"not valid YAML{where}") from None
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise IndexFormatError(f"the document is {kind}")
    if document.get("apiVersion") != API_VERSION:
        found = document.get("apiVersion")
        raise IndexFormatError(f"apiVersion is {found!r}, expected {API_VERSION!r}")
    unknown = sorted(set(document) - _TOP_LEVEL_FIELDS)
    if unknown:
        raise IndexFormatError(f"unexpected top-level field {unknown[0]!r}")
    if "entries" not in document:
        raise IndexFormatError("no `entries`")
    raw_entries = document["entries"]
    if raw_entries is None:
        raw_entries = {}
    if not isinstance(raw_entries, dict):
        raise IndexFormatError("`entries` is not a mapping")
    entries = {
        str(name): sort_versions(_checked_versions(str(name), versions))
        for name, versions in raw_entries.items()
    }
    generated = document.get("generated") or ""
    extra = {k: v for k, v in document.items() if k not in ("apiVersion", "entries", "generated")}
    return RepoIndex(entries=entries, generated=str(generated), extra=extra)


def _checked_versions(name: str, versions: Any) -> list[Entry]:
    if not isinstance(versions, list):
        raise IndexFormatError(f"entries.{name}: expected a list of chart versions")
    for position, entry in enumerate(versions):
        where = f"entries.{name}[{position}]"
        if not isinstance(entry, dict):
            raise IndexFormatError(f"{where}: expected a mapping")
        for required in ("name", "version"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise IndexFormatError(f"{where}: `{required}` is missing or not a string")
        urls = entry.get("urls", [])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise IndexFormatError(f"{where}: `urls` is not a list of strings")
    return versions


def serialise_index(index: RepoIndex, *, generated: str | None = None) -> bytes:
    """YAML bytes in Helm's layout (sorted keys, `generated` stamped now unless given)."""
    document = {
        **index.extra,
        "apiVersion": API_VERSION,
        "entries": {name: list(versions) for name, versions in index.entries.items()},
        "generated": generated or rfc3339_nano(),
    }
    text: str = yaml.dump(
        document,
        Dumper=_BaseDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return text.encode("utf-8")
