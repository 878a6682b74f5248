"""Policy statements as the report shows them, and the action and resource matching the
analyses share."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

from berth_core.tfjson import Json, Statement, TerraformJson

INLINE_JSON_NOTE = "inline JSON string: not a policy document, scanners cannot read it"


def readable_statements(stack: TerraformJson, policy: object) -> list[Json]:
    """The statements of a policy (a policy-document reference or a JSON string), every
    reference in them shown as a readable name."""
    return [readable_statement(stack, statement) for statement in stack.statements(policy)]


def readable_statement(stack: TerraformJson, statement: Statement) -> Json:
    readable: Json = {
        "sid": statement.sid,
        "effect": statement.effect,
        "principals": sorted(
            f"{principal.type} {stack.readable(identifier)}"
            for principal in statement.principals
            for identifier in principal.identifiers
        ),
        "actions": list(statement.actions),
        "resources": [stack.readable(resource) for resource in statement.resources],
        "conditions": [
            f"{c.test} {stack.readable(c.variable)} = "
            + ", ".join(stack.readable(value) for value in c.values)
            for c in statement.conditions
        ],
    }
    if statement.inline_json:
        readable["note"] = INLINE_JSON_NOTE
    return readable


def grants(actions: Iterable[str], wanted: str) -> bool:
    """True when one of `actions` (wildcards allowed, any case) grants the action `wanted`."""
    return any(fnmatch.fnmatchcase(wanted.lower(), action.lower()) for action in actions)


def covers(resources: Sequence[str], target: str) -> bool:
    """True when a readable resource list names `target` (alone, in an ARN, or with a suffix)."""
    pattern = re.compile(re.escape(target) + r"($|[/*:-])")
    return any(r == "*" or pattern.search(r) for r in resources)
