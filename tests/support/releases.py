"""The helm_release resources of synthesized JSON, and the values each one passes to its chart."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.tfjson import TfJson, resources


def helm_release(stack: TfJson, name: str) -> dict[str, Any]:
    """The one helm_release whose release name is `name`."""
    found = [r for r in resources(stack, "helm_release") if r["name"] == name]
    assert len(found) == 1, f"expected one helm_release named {name!r}, found {len(found)}"
    return found[0]


def release_values(release: dict[str, Any]) -> dict[str, Any]:
    """The release's one values document, parsed."""
    (document,) = release["values"]
    return dict(yaml.safe_load(document))


def values_of(stack: TfJson, name: str) -> dict[str, Any]:
    """The values of the helm_release named `name`."""
    return release_values(helm_release(stack, name))
