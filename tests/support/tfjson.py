"""Reading synthesized Terraform JSON in tests: resources by type, policy statements by reference."""

from __future__ import annotations

import re
from typing import Any

TfJson = dict[str, Any]

_DATA_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$")


def strip_metadata(value: Any) -> Any:
    """Drop cdktf's `//` metadata blocks (paths, unique ids), as `Testing.synth` does."""
    if isinstance(value, dict):
        return {key: strip_metadata(item) for key, item in value.items() if key != "//"}
    if isinstance(value, list):
        return [strip_metadata(item) for item in value]
    return value


def resources(stack: TfJson, resource_type: str, construct: str = "") -> list[dict[str, Any]]:
    """Resources of a type; with `construct`, only those inside that top-level construct id.

    cdktf names a resource `<construct path joined by _>_<hash>`: the prefix is the stable part.
    """
    found = stack.get("resource", {}).get(resource_type, {})
    return [
        value
        for key, value in found.items()
        if key.startswith(f"{construct}_" if construct else "")
    ]


def one_resource(stack: TfJson, resource_type: str, construct: str = "") -> dict[str, Any]:
    found = resources(stack, resource_type, construct)
    assert len(found) == 1, (
        f"expected one {resource_type} in {construct or 'the stack'}, found {len(found)}"
    )
    return found[0]


def data_sources(stack: TfJson, data_type: str) -> dict[str, dict[str, Any]]:
    return dict(stack.get("data", {}).get(data_type, {}))


def policy_statements(stack: TfJson, policy_ref: str) -> list[dict[str, Any]]:
    """The statements of the policy document a resource's `policy = "${data....json}"` names."""
    match = _DATA_REF.match(policy_ref)
    assert match, f"policy is not a DataAwsIamPolicyDocument reference: {policy_ref[:80]}"
    document = data_sources(stack, "aws_iam_policy_document")[match.group(1)]
    return list(document["statement"])


def statement(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    matches = [s for s in statements if s.get("sid") == sid]
    assert matches, f"no statement {sid!r} among {[s.get('sid') for s in statements]}"
    return matches[0]


def principals(stmt: dict[str, Any], kind: str = "AWS") -> list[str]:
    return [i for p in stmt.get("principals", []) if p["type"] == kind for i in p["identifiers"]]
