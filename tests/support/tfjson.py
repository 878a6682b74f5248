"""Assertion helpers over `berth_core.tfjson`, the reader the review and the guards use.

They return the synthesized blocks as they are (plain dicts, `statement` blocks with their
snake_case keys), so that a test compares with what Terraform reads, and fail with a message
that names what is missing.
"""

from __future__ import annotations

from typing import Any

from berth_core.tfjson import (
    POLICY_DOCUMENT,
    Reference,
    Statement,
    TerraformJson,
    strip_metadata,
)

__all__ = [
    "Reference",
    "TfJson",
    "data_sources",
    "one_resource",
    "policy_statements",
    "principals",
    "resources",
    "statement",
    "strip_metadata",
]

TfJson = dict[str, Any]


def resources(stack: TfJson, resource_type: str, construct: str = "") -> list[dict[str, Any]]:
    """Resources of a type; with `construct`, only those inside that top-level construct id."""
    return [block.config for block in TerraformJson(stack).resources(resource_type, construct)]


def one_resource(stack: TfJson, resource_type: str, construct: str = "") -> dict[str, Any]:
    found = resources(stack, resource_type, construct)
    assert len(found) == 1, (
        f"expected one {resource_type} in {construct or 'the stack'}, found {len(found)}"
    )
    return found[0]


def data_sources(stack: TfJson, data_type: str) -> dict[str, dict[str, Any]]:
    """Data sources of a type by logical id."""
    return {
        block.logical_id: block.config for block in TerraformJson(stack).data_sources(data_type)
    }


def policy_statements(stack: TfJson, policy_ref: str) -> list[dict[str, Any]]:
    """The statements of the policy document a resource's `policy = "${data....json}"` names."""
    document = TerraformJson(stack).policy_document(policy_ref)
    assert document is not None, (
        f"policy is not a reference to a {POLICY_DOCUMENT} of the stack: {policy_ref[:80]}"
    )
    return list(document.config["statement"])


def statement(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    matches = [s for s in statements if s.get("sid") == sid]
    assert matches, f"no statement {sid!r} among {[s.get('sid') for s in statements]}"
    return matches[0]


def principals(stmt: dict[str, Any], kind: str = "AWS") -> list[str]:
    """The identifiers of a policy document statement's principals of one type."""
    return [
        identifier
        for principal in Statement.from_document(stmt).principals
        if principal.type == kind
        for identifier in principal.identifiers
    ]
