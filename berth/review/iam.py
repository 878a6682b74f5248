"""IAM: every role and user (who may assume it, what it may do), every identity policy
statement, who may decrypt with a KMS key, and the buckets and keys of other accounts that the
environment's principals reach."""

from __future__ import annotations

from berth.review.statements import covers, grants, readable_statements
from berth_core.tfjson import Block, Json, TerraformJson

_KMS_DECRYPT = "kms:Decrypt"


def roles(stack: TerraformJson) -> list[Json]:
    roles: list[Json] = []
    for _, logical_id, config in stack.resources("aws_iam_role"):
        permissions = [
            {
                "policy": f"inline {inline.get('name', '')}".strip(),
                "statements": readable_statements(stack, inline.get("policy")),
            }
            for inline in config.get("inline_policy", []) or []
            if inline.get("policy")
        ]
        for _, _, attached in stack.resources("aws_iam_role_policy"):
            if stack.referenced(attached.get("role"), "aws_iam_role") == logical_id:
                permissions.append(
                    {
                        "policy": f"inline {attached.get('name', '')}".strip(),
                        "statements": readable_statements(stack, attached.get("policy")),
                    }
                )
        managed = list(config.get("managed_policy_arns", []) or [])
        for _, _, attachment in stack.resources("aws_iam_role_policy_attachment"):
            if stack.referenced(attachment.get("role"), "aws_iam_role") == logical_id:
                managed.append(attachment.get("policy_arn"))
        for arn in managed:
            policy = _policy(stack, arn)
            if policy is None:
                permissions.append({"policy": f"managed {arn}", "statements": []})
                continue
            permissions.append(
                {
                    "policy": stack.name_of(policy.type, policy.logical_id),
                    "statements": readable_statements(stack, policy.config.get("policy")),
                }
            )
        roles.append(
            {
                "role": stack.name_of("aws_iam_role", logical_id),
                "trust": readable_statements(stack, config.get("assume_role_policy")),
                "permissions": permissions,
            }
        )
    return sorted(roles, key=lambda role: role["role"])


def _policy(stack: TerraformJson, arn: object) -> Block | None:
    """The stack's `aws_iam_policy` that a policy ARN (reference or literal name) names."""
    policy_id = stack.referenced(arn, "aws_iam_policy")
    return stack.resource("aws_iam_policy", policy_id) if policy_id else None


def identities(stack: TerraformJson, roles: list[Json]) -> list[Json]:
    """Every identity policy statement the stack gives a principal: the roles it creates (their
    permissions) and the roles it only looks up but attaches a managed policy to."""
    found = [
        {"principal": role["role"], "policy": permission["policy"], "statement": statement}
        for role in roles
        for permission in role["permissions"]
        for statement in permission["statements"]
    ]
    for _, _, attachment in stack.resources("aws_iam_role_policy_attachment"):
        if stack.referenced(attachment.get("role"), "aws_iam_role") is not None:
            continue  # a role of this stack: already in its permissions
        policy = _policy(stack, attachment.get("policy_arn"))
        if policy is None:
            continue
        found += [
            {
                "principal": stack.readable(attachment.get("role")),
                "policy": stack.name_of(policy.type, policy.logical_id),
                "statement": statement,
            }
            for statement in readable_statements(stack, policy.config.get("policy"))
        ]
    return found


def decrypts(stack: TerraformJson, key_id: str, identities: list[Json]) -> list[Json]:
    """Who may decrypt with the stack's KMS key `key_id`: its key policy's grants, then the
    identity policies that name it (which count only where the key policy lets IAM decide)."""
    block = stack.resource("aws_kms_key", key_id)
    key = block.config if block else {}
    name = stack.name_of("aws_kms_key", key_id)
    policy = readable_statements(stack, key.get("policy")) if key.get("policy") else []
    found = [
        {
            "principal": principal,
            "actions": statement["actions"],
            "conditions": statement["conditions"],
            "source": f"key policy {statement['sid']}".strip(),
        }
        for statement in policy
        if statement["effect"] == "Allow" and grants(statement["actions"], _KMS_DECRYPT)
        for principal in statement["principals"]
    ]
    if not key.get("policy"):
        found.append(
            {
                "principal": "the owning account (KMS's default key policy)",
                "actions": ["kms:*"],
                "conditions": [],
                "source": "default key policy",
            }
        )
    found += [
        {
            "principal": identity["principal"],
            "actions": identity["statement"]["actions"],
            "conditions": identity["statement"]["conditions"],
            "source": f"identity policy {identity['policy']}",
        }
        for identity in identities
        if identity["statement"]["effect"] == "Allow"
        and grants(identity["statement"]["actions"], _KMS_DECRYPT)
        and covers(identity["statement"]["resources"], name)
    ]
    return sorted(found, key=lambda g: (g["source"].startswith("identity"), g["principal"]))


def elsewhere(stack: TerraformJson, identities: list[Json]) -> Json:
    """Buckets and KMS keys of other stacks or accounts that this stack's principals may use
    (e.g. a central chart repository): the identity half of a cross-account grant."""
    buckets: dict[str, list[Json]] = {}
    keys: dict[str, list[Json]] = {}
    for identity in identities:
        statement = identity["statement"]
        if statement["effect"] != "Allow":
            continue
        for resource in statement["resources"]:
            target = None
            if resource.startswith("arn:aws:s3:::"):
                target = buckets.setdefault(resource.split(":::", 1)[1].split("/", 1)[0], [])
            elif resource.startswith("arn:aws:kms:"):
                target = keys.setdefault(resource, [])
            if target is None:
                continue
            target.append(
                {
                    "principal": identity["principal"],
                    "actions": statement["actions"],
                    "resources": [resource],
                    "conditions": statement["conditions"],
                    "source": f"identity policy {identity['policy']}",
                }
            )

    def listed(found: dict[str, list[Json]]) -> list[Json]:
        return [
            {"name": name, "grants": sorted(grants, key=lambda g: (g["principal"], g["source"]))}
            for name, grants in sorted(found.items())
        ]

    return {"buckets": listed(buckets), "kms_keys": listed(keys)}


def users(stack: TerraformJson) -> list[Json]:
    """IAM users, like roles: what they may do, and where their keys come from."""
    users: list[Json] = []
    has_key = {
        stack.referenced(key.get("user"), "aws_iam_user")
        for _, _, key in stack.resources("aws_iam_access_key")
    }
    for _, logical_id, _ in stack.resources("aws_iam_user"):
        permissions = [
            {
                "policy": f"inline {inline.get('name', '')}".strip(),
                "statements": readable_statements(stack, inline.get("policy")),
            }
            for _, _, inline in stack.resources("aws_iam_user_policy")
            if stack.referenced(inline.get("user"), "aws_iam_user") == logical_id
        ]
        for _, _, attachment in stack.resources("aws_iam_user_policy_attachment"):
            if stack.referenced(attachment.get("user"), "aws_iam_user") == logical_id:
                permissions.append(
                    {"policy": f"managed {attachment.get('policy_arn')}", "statements": []}
                )
        users.append(
            {
                "user": stack.name_of("aws_iam_user", logical_id),
                "access_keys": (
                    "MADE BY TERRAFORM: the secret key is in the state"
                    if logical_id in has_key
                    else "none in Terraform (made and rotated outside it)"
                ),
                "permissions": permissions,
            }
        )
    return sorted(users, key=lambda user: user["user"])
