"""Reading `data.aws_iam_policy_document` blocks as checkov hands them to checks.

Not a check itself: the Berth checks import it. checkov wraps every attribute value in a list
(`effect: ["Allow"]`, `actions: [["s3:GetObject"]]`), in HCL and Terraform JSON alike; these
helpers flatten that so each check reads like the IAM policy it inspects.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any


def flat_strings(value: Any) -> list[str]:
    """Every string inside `value`, however deeply checkov nested it in lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for element in value for item in flat_strings(element)]
    return []


def first_string(value: Any, default: str = "") -> str:
    found = flat_strings(value)
    return found[0] if found else default


def _blocks(value: Any) -> list[dict[str, Any]]:
    """Nested blocks (statement, principals, condition) as a list of dicts."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [block for element in value for block in _blocks(element)]
    return []


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    # (type, identifier) pairs: ("AWS", "*"), ("Federated", "arn:...:oidc-provider/...").
    principals: tuple[tuple[str, str], ...]
    conditions: tuple[Condition, ...]

    @property
    def allows(self) -> bool:
        return self.effect.lower() == "allow"

    def grants(self, action: str) -> bool:
        """True when one of the statement's action patterns covers `action` (IAM wildcards)."""
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)

    def principal_identifiers(self, kind: str) -> list[str]:
        return [identifier for type_, identifier in self.principals if type_ == kind]


def statements(conf: dict[str, Any]) -> list[Statement]:
    """The statements of a policy document's checkov configuration."""
    parsed = []
    for block in _blocks(conf.get("statement")):
        principals = tuple(
            (first_string(principal.get("type")), identifier)
            for principal in _blocks(block.get("principals"))
            for identifier in flat_strings(principal.get("identifiers"))
        )
        conditions = tuple(
            Condition(
                test=first_string(condition.get("test")),
                variable=first_string(condition.get("variable")),
                values=tuple(flat_strings(condition.get("values"))),
            )
            for condition in _blocks(block.get("condition"))
        )
        parsed.append(
            Statement(
                # IAM's default effect is Allow.
                effect=first_string(block.get("effect"), "Allow"),
                actions=tuple(flat_strings(block.get("actions"))),
                resources=tuple(flat_strings(block.get("resources"))),
                principals=principals,
                conditions=conditions,
            )
        )
    return parsed
