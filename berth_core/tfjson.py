"""Reading synthesized Terraform JSON (`cdk.tf.json`): the one reader the review, the synth guards
and the tests share.

`TerraformJson(tf)` wraps one stack's JSON (or, with `TerraformJson.merge`, an environment's
stacks read together) and answers: the resources and data sources of a type with their logical
ids (sorted, so every reader sees the same order), which resource a `${type.id.attr}` reference
or a literal name points to, a readable name for any reference (`role:berth-uat-s3proxy`, never a
hashed logical id), and the statements of a policy, whether it is a `data.aws_iam_policy_document`
reference or a JSON string. It reads JSON with or without cdktf's `//` metadata
(`Testing.synth` strips it) and never changes what it is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

Json = dict[str, Any]

# `${aws_iam_role.X.arn}`, `${data.aws_iam_policy_document.X.json}`, `${var.name}`: type, logical
# id and the attribute path (none, `.arn`, `.a.b`). cdktf writes logical ids of [A-Za-z0-9_-].
REFERENCE = re.compile(r"\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_]+)*)\}")
# cdktf appends `_` and 8 hex digits of a hash to a construct path to make a logical id.
_HASH_SUFFIX = re.compile(r"_[0-9A-F]{8}$")
POLICY_DOCUMENT = "aws_iam_policy_document"

# Short, reviewer-facing names for the resource types a readable name starts with.
KINDS = {
    "aws_iam_role": "role",
    "aws_iam_user": "user",
    "aws_iam_policy": "policy",
    "aws_iam_openid_connect_provider": "oidc-provider",
    "aws_s3_bucket": "bucket",
    "aws_kms_key": "kms-key",
    "aws_secretsmanager_secret": "secret",
    "aws_appconfig_application": "appconfig-app",
    "aws_appconfig_environment": "appconfig-env",
    "aws_appconfig_configuration_profile": "appconfig-profile",
    "aws_ecr_repository": "ecr-repo",
    "aws_ecr_image": "ecr-image",
    "helm_release": "helm-release",
    "kubernetes_namespace_v1": "namespace",
}
# Attributes that just name the resource (`${aws_s3_bucket.X.arn}` reads `bucket:NAME`); a
# reference to another attribute reads `<region of bucket:NAME>`.
_NAMING_ATTRIBUTES = frozenset(
    {
        "arn",
        "id",
        "name",
        "bucket",
        "key_id",
        "application_id",
        "environment_id",
        "configuration_profile_id",
    }
)
# Literal attributes a resource is named by, in the order a readable name prefers them.
_NAME_ATTRIBUTES = ("name", "bucket", "name_prefix", "url")
# Literal attributes a data source finds its object by.
_LOOKUP_ATTRIBUTES = ("name", "url", "arn", "repository_name")
# Literal attributes another block may name a resource by instead of referring to it.
_LITERAL_NAME_ATTRIBUTES = ("name", "bucket")


@dataclass(frozen=True)
class Reference:
    """A Terraform reference: `${aws_iam_role.X.arn}` or `${data.aws_iam_role.X.arn}`."""

    data: bool  # a data source (`${data.TYPE...}`), not a resource
    type: str  # the resource or data type (`var` for a variable)
    logical_id: str
    attribute: str  # the attribute path without its leading dot; "" when there is none

    @classmethod
    def parse(cls, value: object) -> Reference | None:
        """The reference `value` is, when it is exactly one (`"${aws_s3_bucket.X.id}/*"` is not)."""
        match = REFERENCE.fullmatch(str(value))
        return cls._of(match) if match else None

    @classmethod
    def _of(cls, match: re.Match[str]) -> Reference:
        data, resource_type, logical_id, attribute = match.groups()
        return cls(bool(data), resource_type, logical_id, attribute.lstrip("."))


def references(value: object) -> list[Reference]:
    """Every reference inside a Terraform string, in order."""
    return [Reference._of(match) for match in REFERENCE.finditer(str(value))]


def logical_path(logical_id: str) -> str:
    """`helm-repo_kms-key_D00AC9CA` -> `helm-repo/kms-key`: the construct path without the hash."""
    return _HASH_SUFFIX.sub("", logical_id).replace("_", "/")


def strip_metadata(value: Any) -> Any:
    """A copy without cdktf's `//` metadata blocks (paths, unique ids), as `Testing.synth` makes."""
    if isinstance(value, dict):
        return {key: strip_metadata(item) for key, item in value.items() if key != "//"}
    if isinstance(value, list):
        return [strip_metadata(item) for item in value]
    return value


class Block(NamedTuple):
    """One resource or data source block: its type, logical id and configuration."""

    type: str
    logical_id: str
    config: Json

    @property
    def construct_path(self) -> str | None:
        """`uat/helm-repo/bucket`, from cdktf's `//` metadata; None where it was stripped."""
        metadata = as_dict(as_dict(self.config.get("//")).get("metadata"))
        path = metadata.get("path")
        return path if isinstance(path, str) else None

    @property
    def provider(self) -> str:
        """The address of the provider configuration the block uses: its `provider`
        (`${aws.replica}` -> `aws.replica`), else the default one its type names (`aws`)."""
        configured = self.config.get("provider")
        if configured:
            return str(configured).removeprefix("${").removesuffix("}")
        return self.type.split("_", 1)[0]


@dataclass(frozen=True)
class Principal:
    """A statement's principals of one type (`AWS`, `Service`, `Federated`, `*`)."""

    type: str
    identifiers: tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    """`test variable = values`, e.g. `StringEquals kms:ViaService = s3.eu-west-1.amazonaws.com`."""

    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One IAM policy statement, whichever form the policy was written in."""

    sid: str
    effect: str  # Allow or Deny
    principals: tuple[Principal, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...]
    # From a JSON string (a literal or `jsonencode`), not a policy document data source:
    # policy scanners cannot read it.
    inline_json: bool = False

    @classmethod
    def from_document(cls, raw: Mapping[str, Any]) -> Statement:
        """A `statement` block of a `data.aws_iam_policy_document` (snake_case keys)."""
        return cls(
            sid=str(raw.get("sid", "")),
            effect=str(raw.get("effect", "Allow")),
            principals=tuple(
                Principal(str(p.get("type", "")), tuple(map(str, p.get("identifiers", []))))
                for p in raw.get("principals", []) or []
            ),
            actions=tuple(map(str, raw.get("actions", []) or [])),
            resources=tuple(map(str, raw.get("resources", []) or [])),
            conditions=tuple(
                Condition(
                    str(c.get("test", "")),
                    str(c.get("variable", "")),
                    tuple(map(str, c.get("values", []) or [])),
                )
                for c in raw.get("condition", []) or []
            ),
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Statement:
        """A statement of an IAM policy JSON document (`Effect`, `Principal`, `Action`...)."""
        principal = raw.get("Principal", {})
        principals = (
            (Principal("AWS", (principal,)),)
            if isinstance(principal, str)  # "Principal": "*" is everyone, as {"AWS": "*"}
            else tuple(
                Principal(str(kind), tuple(map(str, as_list(ids))))
                for kind, ids in as_dict(principal).items()
            )
        )
        return cls(
            sid=str(raw.get("Sid", "")),
            effect=str(raw.get("Effect", "Allow")),
            principals=principals,
            actions=tuple(map(str, as_list(raw.get("Action")))),
            resources=tuple(map(str, as_list(raw.get("Resource")))),
            conditions=tuple(
                Condition(str(test), str(key), tuple(map(str, as_list(values))))
                for test, pairs in as_dict(raw.get("Condition")).items()
                for key, values in as_dict(pairs).items()
            ),
            inline_json=True,
        )


class TerraformJson:
    """One stack's synthesized Terraform JSON (or several stacks' resources and data sources)."""

    def __init__(self, tf: Mapping[str, Any]) -> None:
        self.tf = tf
        self._names: dict[tuple[str, str], str] = {}
        # The sorted blocks of each section, read once: the JSON is not changed while read.
        self._sorted: dict[str, dict[str, list[Block]]] = {}

    @classmethod
    def merge(cls, stacks: Iterable[Mapping[str, Any]]) -> TerraformJson:
        """An environment's stacks read as one: their resources and data sources together (a
        release in one stack is matched with the role another creates). Providers, outputs and
        backends stay per stack and are not merged."""
        merged: Json = {"resource": {}, "data": {}}
        for tf in stacks:
            for section in ("resource", "data"):
                for kind, blocks in tf.get(section, {}).items():
                    merged[section].setdefault(kind, {}).update(blocks)
        return cls(merged)

    # ---- blocks ----

    def resources(self, resource_type: str | None = None, construct: str = "") -> list[Block]:
        """Resource blocks sorted by type and logical id; only `resource_type` when given; with
        `construct`, only those inside that top-level construct id (a logical id is the
        construct path joined by `_` plus a hash, so its prefix is the stable part)."""
        return self._blocks("resource", resource_type, construct)

    def data_sources(self, data_type: str | None = None, construct: str = "") -> list[Block]:
        """Data source blocks, as `resources` lists resource blocks."""
        return self._blocks("data", data_type, construct)

    def _blocks(self, section: str, wanted: str | None, construct: str) -> list[Block]:
        if section not in self._sorted:
            self._sorted[section] = {
                kind: [
                    Block(kind, logical_id, config) for logical_id, config in sorted(blocks.items())
                ]
                for kind, blocks in sorted(self.tf.get(section, {}).items())
            }
        by_type = self._sorted[section]
        found = (
            [b for blocks in by_type.values() for b in blocks]
            if wanted is None
            else by_type.get(wanted, [])
        )
        prefix = f"{construct}_" if construct else ""
        return [block for block in found if block.logical_id.startswith(prefix)]

    def resource(self, resource_type: str, logical_id: str) -> Block | None:
        config = self.tf.get("resource", {}).get(resource_type, {}).get(logical_id)
        return Block(resource_type, logical_id, config) if isinstance(config, dict) else None

    def data_source(self, data_type: str, logical_id: str) -> Block | None:
        config = self.tf.get("data", {}).get(data_type, {}).get(logical_id)
        return Block(data_type, logical_id, config) if isinstance(config, dict) else None

    def outputs(self) -> list[tuple[str, Json]]:
        """(name, output block), sorted by name."""
        return sorted(self.tf.get("output", {}).items())

    def providers(self, name: str) -> list[tuple[str, Json]]:
        """(address, configuration) of each configuration of one provider: `aws` for the
        default one, `aws.ALIAS` for each alias (the address a block's `provider` names)."""
        return [
            (f"{name}.{config['alias']}" if config.get("alias") else name, config)
            for config in self.tf.get("provider", {}).get(name, [])
        ]

    # ---- references ----

    def referenced(
        self, value: object, resource_type: str, attributes: Iterable[str] | None = None
    ) -> str | None:
        """The logical id of the `resource_type` resource that `value` refers to: by reference
        (`${aws_s3_bucket.X.id}`; only to one of `attributes` when given) or by its literal
        name (`name` or `bucket`)."""
        reference = Reference.parse(value)
        if (
            reference is not None
            and not reference.data
            and reference.type == resource_type
            and (attributes is None or reference.attribute in attributes)
        ):
            return reference.logical_id
        text = str(value)
        if text:
            for block in self.resources(resource_type):
                if text in tuple(block.config.get(a) for a in _LITERAL_NAME_ATTRIBUTES):
                    return block.logical_id
        return None

    def name_of(self, resource_type: str, logical_id: str) -> str:
        """A resource's readable name: `role:berth-uat-s3proxy`, `kms-key:alias/...`."""
        key = (resource_type, logical_id)
        if key not in self._names:
            block = self.resource(resource_type, logical_id)
            self._names[key] = self._display_name(block) if block else logical_path(logical_id)
        return f"{KINDS.get(resource_type, resource_type)}:{self._names[key]}"

    def _display_name(self, block: Block) -> str:
        if block.type == "aws_kms_key":
            aliases = [
                str(alias.config.get("name"))
                for alias in self.resources("aws_kms_alias")
                if f"aws_kms_key.{block.logical_id}." in str(alias.config.get("target_key_id", ""))
            ]
            if aliases:
                return sorted(aliases)[0]
        return _literal(block.config, _NAME_ATTRIBUTES) or logical_path(block.logical_id)

    def looked_up(self, data_type: str, logical_id: str) -> str:
        """A data source as what it finds: `role:NAME (looked up)`."""
        block = self.data_source(data_type, logical_id)
        config = block.config if block else {}
        found = _literal(config, _LOOKUP_ATTRIBUTES)
        if not found:
            return f"data.{data_type}:{logical_path(logical_id)}"
        if config.get("image_tag"):
            found = f"{found}:{config['image_tag']}"
        return f"{KINDS.get(data_type, data_type)}:{found} (looked up)"

    def readable(self, value: object) -> str:
        """A Terraform string with every `${type.id.attr}` replaced by a readable name."""

        def replace(match: re.Match[str]) -> str:
            reference = Reference._of(match)
            if reference.type == "var":
                return f"var.{reference.logical_id}"
            if reference.data:
                return self.looked_up(reference.type, reference.logical_id)
            name = self.name_of(reference.type, reference.logical_id)
            if not reference.attribute or reference.attribute in _NAMING_ATTRIBUTES:
                return name
            return f"<{reference.attribute} of {name}>"

        return REFERENCE.sub(replace, str(value))

    # ---- policies ----

    def policy_document(self, policy: object) -> Block | None:
        """The `data.aws_iam_policy_document` that a `${data.aws_iam_policy_document.X.json}`
        names (None for anything else, or when the stack has no such document)."""
        reference = Reference.parse(policy)
        if reference is None or not reference.data or reference.type != POLICY_DOCUMENT:
            return None
        return self.data_source(POLICY_DOCUMENT, reference.logical_id)

    def statements(self, policy: object) -> list[Statement]:
        """The statements of a policy: a policy-document reference or a JSON string (empty for
        anything else, e.g. a `jsonencode` expression)."""
        reference = Reference.parse(policy)
        if reference is not None and reference.data and reference.type == POLICY_DOCUMENT:
            document = self.data_source(POLICY_DOCUMENT, reference.logical_id)
            raw = document.config.get("statement", []) if document else []
            return [Statement.from_document(statement) for statement in raw or []]
        try:
            parsed = json.loads(str(policy or ""))
        except json.JSONDecodeError:
            return []
        return [
            Statement.from_json(statement)
            for statement in as_list(as_dict(parsed).get("Statement"))
            if isinstance(statement, dict)
        ]


def _literal(config: Mapping[str, Any], attributes: Iterable[str]) -> str:
    """The first of `attributes` that holds a literal, non-empty string (not a reference)."""
    for attribute in attributes:
        value = config.get(attribute)
        if isinstance(value, str) and value and "${" not in value:
            return value
    return ""


def as_dict(value: object) -> Json:
    """`value` when it is a JSON object, else an empty one."""
    return dict(value) if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` as a list: JSON policies write one item without brackets."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
