"""Every chart's README.md matches its values.yaml, so the two cannot drift apart.

The README's `## Values` table has one row per documented key: `| `key` | `default` | what |`,
the default as JSON. Each top-level key of values.yaml must be documented, each documented key
must exist with that default, and every value path the README names elsewhere in backticks
(`serviceAccount.roleArn`) must exist too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CHARTS = Path(__file__).resolve().parents[2] / "charts"
CHART_DIRS = sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))

_ROW = re.compile(r"^\|\s*`(?P<key>[^`]+)`\s*\|\s*`(?P<default>[^`]*)`\s*\|", re.MULTILINE)
# A value path in prose: `a.b` or `a.b.c` (braces list siblings: `appconfig.{region,profile}`).
_PATH = re.compile(r"`(?P<path>[a-z][A-Za-z0-9]*(?:\.(?:[A-Za-z0-9]+|\{[A-Za-z0-9,]+\}))+)`")

_MISSING = object()


def _lookup(values: Any, key: str) -> Any:
    node = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _values_section(readme: str) -> str:
    match = re.search(r"^## Values\n(?P<body>.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Values' section"
    return match.group("body")


def documented(readme: str) -> dict[str, str]:
    """Key -> default cell of each row of the README's values table."""
    rows = _ROW.findall(_values_section(readme))
    keys = [key for key, _ in rows]
    assert len(keys) == len(set(keys)), f"keys documented twice: {keys}"
    return dict(rows)


def problems(readme: str, values: dict[str, Any]) -> list[str]:
    """What in `readme` does not match `values` (empty when they agree)."""
    found: list[str] = []
    rows = documented(readme)
    for top in values:
        if not any(key == top or key.startswith(f"{top}.") for key in rows):
            found.append(f"{top}: in values.yaml, not in the README's values table")
    for key, default in rows.items():
        value = _lookup(values, key)
        if value is _MISSING:
            found.append(f"{key}: documented, but values.yaml has no such key")
        elif json.loads(default) != value:
            found.append(
                f"{key}: documented default {default}, values.yaml has {json.dumps(value)}"
            )
    for match in _PATH.finditer(readme):
        head, _, tail = match.group("path").partition(".")
        if head not in values:
            continue  # not a value path (a file name, a host, ...)
        names = tail.strip("{}").split(",") if tail.startswith("{") else [tail]
        for name in names:
            if _lookup(values, f"{head}.{name}") is _MISSING:
                found.append(f"{head}.{name}: named in the README, but values.yaml has no such key")
    return sorted(set(found))


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=lambda p: p.name)
def test_readme_documents_every_value_and_only_values(chart_dir: Path) -> None:
    readme = chart_dir / "README.md"
    assert readme.is_file(), f"{chart_dir.name}: no README.md"
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())

    assert problems(readme.read_text(), values) == []


_README = """\
# demo

Set `image.tag`, or `appconfig.{region,profile}`; see `values.yaml` and `example.com/x`.

## Values

| Key | Default | Description |
| --- | --- | --- |
| `image.tag` | `"1.0"` | Tag. |
| `appconfig` | `{"region":"","profile":""}` | Where. |
| `replicas` | `2` | Pods. |

## Next
"""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"image": {"tag": "1.0"}, "appconfig": {"region": "", "profile": ""}, "replicas": 2},
            [],
        ),
        (
            {
                "image": {"tag": "1.0"},
                "appconfig": {"region": "", "profile": ""},
                "replicas": 2,
                "podLabels": {},
            },
            ["podLabels: in values.yaml, not in the README's values table"],
        ),
        (
            {"image": {"tag": "1.0"}, "appconfig": {"region": "", "profile": ""}},
            ["replicas: documented, but values.yaml has no such key"],
        ),
        (
            {"image": {"tag": "2.0"}, "appconfig": {"region": "", "profile": ""}, "replicas": 2},
            ['image.tag: documented default "1.0", values.yaml has "2.0"'],
        ),
        (
            {"image": {"tag": "1.0"}, "appconfig": {"region": ""}, "replicas": 2},
            [
                "appconfig.profile: named in the README, but values.yaml has no such key",
                "appconfig: documented default"
                ' {"region":"","profile":""}, values.yaml has {"region": ""}',
            ],
        ),
    ],
    ids=["in-step", "undocumented-key", "documented-key-gone", "default-changed", "prose-key"],
)
def test_the_check_finds_each_kind_of_drift(values: dict[str, Any], expected: list[str]) -> None:
    assert problems(_README, values) == sorted(expected)
