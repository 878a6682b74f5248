"""Synth-time guards: a stack that breaks the tagging or bucket rules does not synthesize.

`add_guards(stack)` adds one Aspect. When cdktf visits the stack it reads the stack's resolved
Terraform JSON (what `cdk.tf.json` will hold) and adds an error annotation to every construct
that breaks a rule; `App.synth()` then fails with all the messages. (`Testing.synth` does not
fail on annotations: tests read them from `node.metadata`.)

Rules:
- Required tags come from the AWS provider's `default_tags`, which cover every taggable AWS
  resource: every `aws` provider must carry each required key with a non-empty value and must
  not list it in `ignore_tags`; a resource that sets its own `tags` may add keys but must not
  blank or change a required one.
- Every `aws_s3_bucket` needs, in the same stack, an `aws_s3_bucket_server_side_encryption_
  configuration` and an `aws_s3_bucket_public_access_block` (all four settings on) that refer to
  it (`${aws_s3_bucket.X.id}`, `.bucket`, or its literal name).
- No dangling IAM references: an IAM ARN of the stack's own account (a role, user, group,
  policy or OIDC provider; account roots always exist) may appear literally only where it is
  looked up (a data source other than a policy document) or in the provider and backend
  configuration (the deploy role they assume). Everywhere else the stack must use the ARN of
  something it creates or looks up: IAM, S3 and ECR refuse a policy whose principal does not
  exist, and an IRSA trust naming a missing OIDC provider fails only when pods start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsii
from cdktf import (
    Annotations,
    Aspects,
    IAspect,
    TerraformProvider,
    TerraformResource,
    TerraformStack,
)
from constructs import IConstruct

from berth_core.tfjson import POLICY_DOCUMENT, Json, TerraformJson

# Keys every AWS resource must carry; berth_core.config always adds both to the default tags.
REQUIRED_TAGS = ("Environment", "ManagedBy")
PUBLIC_ACCESS_BLOCK_SETTINGS = (
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
)
ENCRYPTION = "aws_s3_bucket_server_side_encryption_configuration"
PUBLIC_ACCESS_BLOCK = "aws_s3_bucket_public_access_block"
# The attributes a `bucket = ...` argument may refer to a bucket by.
_BUCKET_ATTRIBUTES = ("id", "bucket")


@dataclass(frozen=True)
class Violation:
    """A broken rule: the offending block's logical id (None = the stack) and the message."""

    logical_id: str | None
    message: str


def find_violations(
    stack: Mapping[str, Any], required_tags: Sequence[str], account_id: str | None = None
) -> list[Violation]:
    """Every rule the stack's Terraform JSON breaks, in a stable order.

    `account_id`: the stack's own account, whose IAM ARNs must not dangle (None: not checked).
    """
    tf = TerraformJson(stack)
    return [
        *_provider_tag_violations(tf, required_tags),
        *_resource_tag_violations(tf, required_tags),
        *_bucket_violations(tf),
        *(_dangling_iam_violations(tf, account_id) if account_id else []),
    ]


_IAM_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):(?P<rest>[^\s\"',}]+)")


def _literal_iam_arns(value: Any, account_id: str) -> list[str]:
    """Every literal IAM ARN of `account_id` in `value` (nested), except account roots."""
    if isinstance(value, dict):
        return [arn for item in value.values() for arn in _literal_iam_arns(item, account_id)]
    if isinstance(value, list):
        return [arn for item in value for arn in _literal_iam_arns(item, account_id)]
    if not isinstance(value, str):
        return []
    return [
        match.group(0)
        for match in _IAM_ARN.finditer(value)
        if match.group("account") == account_id and match.group("rest") != "root"
    ]


def _dangling_iam_violations(tf: TerraformJson, account_id: str) -> list[Violation]:
    # Policy documents are data sources that build JSON, not lookups of something that exists:
    # they are checked; every other data source is a lookup, where a literal ARN belongs.
    blocks: list[tuple[str, str, Json]] = [
        *tf.resources(),
        *tf.data_sources(POLICY_DOCUMENT),
        *(("output", name, config) for name, config in tf.outputs()),
    ]
    violations = []
    for block_type, logical_id, config in blocks:
        for arn in dict.fromkeys(_literal_iam_arns(config, account_id)):
            violations.append(
                Violation(
                    logical_id,
                    f"{block_type} {logical_id} names {arn}, which this stack neither creates"
                    " nor looks up: refer to the resource that creates it, or look it up with a"
                    " data source so that planning stops when it is missing",
                )
            )
    return violations


def _default_tags(provider: Mapping[str, Any]) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    for block in provider.get("default_tags") or []:
        tags.update(block.get("tags") or {})
    return tags


def _provider_tag_violations(tf: TerraformJson, required_tags: Sequence[str]) -> list[Violation]:
    providers = tf.providers("aws")
    has_aws_resources = any(block.type.startswith("aws_") for block in tf.resources())
    if not providers:
        if has_aws_resources:
            return [Violation(None, "AWS resources without an aws provider carrying default_tags")]
        return []
    violations = []
    for name, provider in providers:
        tags = _default_tags(provider)
        missing = [key for key in required_tags if not tags.get(key)]
        if missing:
            violations.append(
                Violation(
                    f"provider:{name}",
                    f"provider {name}: default_tags lack required tag(s) {', '.join(missing)}",
                )
            )
        ignored: set[str] = set()
        for block in provider.get("ignore_tags") or []:
            ignored.update(block.get("keys") or [])
        dropped = [key for key in required_tags if key in ignored]
        if dropped:
            violations.append(
                Violation(
                    f"provider:{name}",
                    f"provider {name}: ignore_tags drops required tag(s) {', '.join(dropped)}",
                )
            )
    return violations


def _resource_tag_violations(tf: TerraformJson, required_tags: Sequence[str]) -> list[Violation]:
    defaults = {name: _default_tags(provider) for name, provider in tf.providers("aws")}
    violations = []
    for block in tf.resources():
        resource_type, logical_id, config = block
        tags = config.get("tags")
        # A token (`${...}`) is decided at apply time; only literal maps can be judged here.
        if not resource_type.startswith("aws_") or not isinstance(tags, dict):
            continue
        default = defaults.get(block.provider, {})
        for key in required_tags:
            if key in tags and tags[key] != default.get(key):
                violations.append(
                    Violation(
                        logical_id,
                        f"{resource_type} {logical_id}: tags override required tag {key} "
                        f"({tags[key]!r} instead of the default {default.get(key)!r})",
                    )
                )
    return violations


def _bucket_violations(tf: TerraformJson) -> list[Violation]:
    buckets = {block.logical_id: block.config for block in tf.resources("aws_s3_bucket")}

    def protected(resource_type: str) -> dict[str, Json]:
        """Bucket logical id -> the config of the `resource_type` block that refers to it
        (`${aws_s3_bucket.X.id}`, `.bucket`, or its literal name)."""
        found = {}
        for block in tf.resources(resource_type):
            target = tf.referenced(
                block.config.get("bucket", ""), "aws_s3_bucket", _BUCKET_ATTRIBUTES
            )
            if target is not None and target in buckets:
                found[target] = block.config
        return found

    encrypted = protected(ENCRYPTION)
    blocked = protected(PUBLIC_ACCESS_BLOCK)
    violations = []
    for logical_id in buckets:
        if logical_id not in encrypted:
            violations.append(
                Violation(logical_id, f"aws_s3_bucket {logical_id}: no {ENCRYPTION} refers to it")
            )
        block = blocked.get(logical_id)
        if block is None:
            violations.append(
                Violation(
                    logical_id, f"aws_s3_bucket {logical_id}: no {PUBLIC_ACCESS_BLOCK} refers to it"
                )
            )
            continue
        off = [
            setting for setting in PUBLIC_ACCESS_BLOCK_SETTINGS if block.get(setting) is not True
        ]
        if off:
            violations.append(
                Violation(
                    logical_id,
                    f"aws_s3_bucket {logical_id}: {PUBLIC_ACCESS_BLOCK} leaves "
                    f"{', '.join(off)} off",
                )
            )
    return violations


@jsii.implements(IAspect)
class SecurityGuards:
    """The Aspect behind `add_guards`; it acts once per stack, on the stack node."""

    def __init__(
        self, required_tags: Sequence[str] = REQUIRED_TAGS, account_id: str | None = None
    ) -> None:
        self._required_tags = tuple(required_tags)
        self._account_id = account_id

    def visit(self, node: IConstruct) -> None:
        if not TerraformStack.is_stack(node):
            return
        stack: TerraformStack = node  # type: ignore[assignment]
        # Resolved JSON: references read as `${aws_s3_bucket.X.id}`, not as unresolved tokens.
        violations = find_violations(stack.to_terraform(), self._required_tags, self._account_id)
        by_logical_id = _constructs_by_logical_id(stack)
        for violation in violations:
            target = by_logical_id.get(violation.logical_id or "", stack)
            Annotations.of(target).add_error(f"berth guard: {violation.message}")


def _constructs_by_logical_id(stack: TerraformStack) -> dict[str, IConstruct]:
    found: dict[str, IConstruct] = {}
    for construct in stack.node.find_all():
        if isinstance(construct, TerraformResource):
            found[construct.friendly_unique_id] = construct
        elif isinstance(construct, TerraformProvider):
            alias = construct.alias
            found[f"provider:{construct.terraform_resource_type}{f'.{alias}' if alias else ''}"] = (
                construct
            )
    return found


def add_guards(
    stack: TerraformStack,
    required_tags: Sequence[str] = REQUIRED_TAGS,
    account_id: str | None = None,
) -> None:
    """Make `stack` refuse to synthesize when it breaks the tagging, bucket or IAM rules.

    `account_id`: the stack's account, whose IAM ARNs must be created or looked up.
    """
    Aspects.of(stack).add(SecurityGuards(required_tags, account_id))
