"""`berth review ENV`: what a security reviewer asks, answered from the synthesized Terraform JSON.

An environment's stacks (account, cluster, workloads) are read together, so a release's role
is matched with the role the account stack creates. Writes `cdktf.out/review/ENV.md` and
`ENV.json`: every IAM role (who may assume it, under which conditions, what it may do on which
resources), every bucket (who may read or write it, who may decrypt it), the buckets and keys of
other accounts its roles reach (a central chart repository), every secret (which roles reach it, directly or through an AppConfig retrieval role), every network
entry point (Helm releases' ingress hosts, TLS, auth) and the checkov result with each
suppression and its reason. References such as `${aws_iam_role.X.arn}` are shown as readable
names (`role:berth-uat-s3proxy`), never as hashed logical ids. The report is deterministic:
the same JSON gives the same bytes.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from berth import checkov

REVIEW_DIR = "review"

# Short, reviewer-facing names for the resource types the report mentions.
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
# Attributes that just name the resource; others are shown (`bucket:x.region`).
_NAMING_ATTRIBUTES = {
    "arn",
    "id",
    "name",
    "bucket",
    "key_id",
    "application_id",
    "environment_id",
    "configuration_profile_id",
}
_REFERENCE = re.compile(r"\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_]+)*)\}")
_HASH_SUFFIX = re.compile(r"_[0-9A-F]{8}$")
_READ_ACTIONS = ("s3:Get*", "s3:List*", "s3:Head*")
_WRITE_ACTIONS = (
    "s3:Put*",
    "s3:Delete*",
    "s3:AbortMultipartUpload",
    "s3:Restore*",
    "s3:Replicate*",
)
_SECRET_READ = "secretsmanager:GetSecretValue"  # noqa: S105 - an IAM action, not a secret
_APPCONFIG_READ = ("appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration")
_KMS_DECRYPT = "kms:Decrypt"

Json = dict[str, Any]
# How a release whose AWS identity is an IAM user's key in a Secret is shown.
STATIC_KEYS = "static keys"


def _grants(actions: Iterable[str], wanted: str) -> bool:
    return any(fnmatch.fnmatchcase(wanted.lower(), action.lower()) for action in actions)


def _logical_path(logical_id: str) -> str:
    """`helm-repo_kms-key_D00AC9CA` -> `helm-repo/kms-key`: the construct path without the hash."""
    return _HASH_SUFFIX.sub("", logical_id).replace("_", "/")


def merge_stacks(stacks: Sequence[Mapping[str, Any]]) -> Json:
    """One document with the resources and data sources of several stacks of an environment."""
    merged: Json = {"resource": {}, "data": {}}
    for tf in stacks:
        for section in ("resource", "data"):
            for kind, blocks in tf.get(section, {}).items():
                merged[section].setdefault(kind, {}).update(blocks)
    return merged


class Stack:
    """Synthesized Terraform JSON, with its references resolved to readable names."""

    def __init__(self, tf: Mapping[str, Any]) -> None:
        self.tf = tf
        self._names: dict[tuple[str, str], str] = {}
        for resource_type, logical_id, config in self.resources():
            self._names[(resource_type, logical_id)] = self._display_name(
                resource_type, logical_id, config
            )

    def resources(self, resource_type: str | None = None) -> list[tuple[str, str, Json]]:
        """(type, logical id, config), sorted; only `resource_type` when given."""
        return [
            (kind, logical_id, config)
            for kind, blocks in sorted(self.tf.get("resource", {}).items())
            if resource_type in (None, kind)
            for logical_id, config in sorted(blocks.items())
        ]

    def _display_name(self, resource_type: str, logical_id: str, config: Json) -> str:
        if resource_type == "aws_kms_key":
            aliases = [
                str(alias.get("name"))
                for _, _, alias in self.resources("aws_kms_alias")
                if f"aws_kms_key.{logical_id}." in str(alias.get("target_key_id", ""))
            ]
            if aliases:
                return sorted(aliases)[0]
        for attribute in ("name", "bucket", "name_prefix", "url"):
            value = config.get(attribute)
            if isinstance(value, str) and value and "${" not in value:
                return value
        return _logical_path(logical_id)

    def name_of(self, resource_type: str, logical_id: str) -> str:
        kind = KINDS.get(resource_type, resource_type)
        return f"{kind}:{self._names.get((resource_type, logical_id), _logical_path(logical_id))}"

    def readable(self, value: Any) -> str:
        """A Terraform string with every `${type.id.attr}` replaced by a readable name."""

        def replace(match: re.Match[str]) -> str:
            is_data, resource_type, logical_id, attributes = match.groups()
            if resource_type == "var":
                return f"var.{logical_id}"
            if is_data:
                return self._looked_up(resource_type, logical_id)
            name = self.name_of(resource_type, logical_id)
            attribute = attributes.lstrip(".")
            if attribute in _NAMING_ATTRIBUTES or not attribute:
                return name
            return f"<{attribute} of {name}>"

        return _REFERENCE.sub(replace, str(value))

    def _looked_up(self, data_type: str, logical_id: str) -> str:
        """A data source as what it finds: `role:NAME (looked up)`."""
        config = self.tf.get("data", {}).get(data_type, {}).get(logical_id, {})
        for attribute in ("name", "url", "arn", "repository_name"):
            value = config.get(attribute)
            if isinstance(value, str) and value and "${" not in value:
                found = f"{value}:{config['image_tag']}" if config.get("image_tag") else value
                return f"{KINDS.get(data_type, data_type)}:{found} (looked up)"
        return f"data.{data_type}:{_logical_path(logical_id)}"

    def referenced(self, value: Any, resource_type: str) -> str | None:
        """The logical id of the `resource_type` a value refers to (by reference or literal name)."""
        text = str(value)
        match = _REFERENCE.fullmatch(text)
        if match and match.group(2) == resource_type and not match.group(1):
            return match.group(3)
        for kind, logical_id, config in self.resources(resource_type):
            if text and text in (config.get("name"), config.get("bucket")):
                return logical_id
            del kind
        return None

    def statements(self, policy: Any) -> list[Json]:
        """The readable statements of a policy: a policy-document reference or a JSON string."""
        text = str(policy or "")
        match = _REFERENCE.fullmatch(text)
        if match and match.group(1) and match.group(2) == "aws_iam_policy_document":
            document = self.tf.get("data", {}).get("aws_iam_policy_document", {})
            raw = document.get(match.group(3), {}).get("statement", [])
            return [self._statement(s) for s in raw]
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return []
        return [self._json_statement(s) for s in _as_list(parsed.get("Statement"))]

    def _statement(self, raw: Json) -> Json:
        return {
            "sid": raw.get("sid", ""),
            "effect": raw.get("effect", "Allow"),
            "principals": sorted(
                f"{p['type']} {self.readable(identifier)}"
                for p in raw.get("principals", [])
                for identifier in p.get("identifiers", [])
            ),
            "actions": list(raw.get("actions", [])),
            "resources": [self.readable(r) for r in raw.get("resources", [])],
            "conditions": [
                f"{c['test']} {self.readable(c['variable'])} = "
                + ", ".join(self.readable(v) for v in c.get("values", []))
                for c in raw.get("condition", [])
            ],
        }

    def _json_statement(self, raw: Json) -> Json:
        principal = raw.get("Principal", {})
        principals = (
            [f"AWS {principal}"]
            if isinstance(principal, str)
            else [
                f"{kind} {self.readable(i)}"
                for kind, ids in principal.items()
                for i in _as_list(ids)
            ]
        )
        return {
            "sid": raw.get("Sid", ""),
            "effect": raw.get("Effect", "Allow"),
            "principals": sorted(principals),
            "actions": _as_list(raw.get("Action")),
            "resources": [self.readable(r) for r in _as_list(raw.get("Resource"))],
            "conditions": [
                f"{test} {key} = {', '.join(map(str, _as_list(values)))}"
                for test, pairs in raw.get("Condition", {}).items()
                for key, values in pairs.items()
            ],
            "note": "inline JSON string: not a policy document, scanners cannot read it",
        }


def _as_dict(value: Any) -> Json:
    return dict(value) if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# ---- sections ----


def _roles(stack: Stack) -> list[Json]:
    roles: list[Json] = []
    for _, logical_id, config in stack.resources("aws_iam_role"):
        permissions = [
            {
                "policy": f"inline {inline.get('name', '')}".strip(),
                "statements": stack.statements(inline.get("policy")),
            }
            for inline in config.get("inline_policy", []) or []
            if inline.get("policy")
        ]
        for _, _, attached in stack.resources("aws_iam_role_policy"):
            if stack.referenced(attached.get("role"), "aws_iam_role") == logical_id:
                permissions.append(
                    {
                        "policy": f"inline {attached.get('name', '')}".strip(),
                        "statements": stack.statements(attached.get("policy")),
                    }
                )
        managed = list(config.get("managed_policy_arns", []) or [])
        for _, _, attachment in stack.resources("aws_iam_role_policy_attachment"):
            if stack.referenced(attachment.get("role"), "aws_iam_role") == logical_id:
                managed.append(attachment.get("policy_arn"))
        for arn in managed:
            policy_id = stack.referenced(arn, "aws_iam_policy")
            if policy_id is None:
                permissions.append({"policy": f"managed {arn}", "statements": []})
                continue
            policy = stack.tf["resource"]["aws_iam_policy"][policy_id]
            permissions.append(
                {
                    "policy": stack.name_of("aws_iam_policy", policy_id),
                    "statements": stack.statements(policy.get("policy")),
                }
            )
        roles.append(
            {
                "role": stack.name_of("aws_iam_role", logical_id),
                "trust": stack.statements(config.get("assume_role_policy")),
                "permissions": permissions,
            }
        )
    return sorted(roles, key=lambda role: role["role"])


def _identities(stack: Stack, roles: list[Json]) -> list[Json]:
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
        policy_id = stack.referenced(attachment.get("policy_arn"), "aws_iam_policy")
        if policy_id is None:
            continue
        policy = stack.tf["resource"]["aws_iam_policy"][policy_id]
        found += [
            {
                "principal": stack.readable(attachment.get("role")),
                "policy": stack.name_of("aws_iam_policy", policy_id),
                "statement": statement,
            }
            for statement in stack.statements(policy.get("policy"))
        ]
    return found


def _decrypts(stack: Stack, key_id: str, identities: list[Json]) -> list[Json]:
    """Who may decrypt with the stack's KMS key `key_id`: its key policy's grants, then the
    identity policies that name it (which count only where the key policy lets IAM decide)."""
    key = stack.tf["resource"]["aws_kms_key"][key_id]
    name = stack.name_of("aws_kms_key", key_id)
    policy = stack.statements(key.get("policy")) if key.get("policy") else []
    found = [
        {
            "principal": principal,
            "actions": statement["actions"],
            "conditions": statement["conditions"],
            "source": f"key policy {statement['sid']}".strip(),
        }
        for statement in policy
        if statement["effect"] == "Allow" and _grants(statement["actions"], _KMS_DECRYPT)
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
        and _grants(identity["statement"]["actions"], _KMS_DECRYPT)
        and _covers(identity["statement"]["resources"], name)
    ]
    return sorted(found, key=lambda g: (g["source"].startswith("identity"), g["principal"]))


def _elsewhere(stack: Stack, identities: list[Json]) -> Json:
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


def _users(stack: Stack) -> list[Json]:
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
                "statements": stack.statements(inline.get("policy")),
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


def _s3_access(actions: Sequence[str]) -> str:
    read = any(
        _grants([a], pattern) or _grants([pattern], a) for a in actions for pattern in _READ_ACTIONS
    )
    write = any(
        _grants([a], pattern) or _grants([pattern], a)
        for a in actions
        for pattern in _WRITE_ACTIONS
    )
    return "read+write" if read and write else "write" if write else "read" if read else "other"


def _buckets(stack: Stack, identities: list[Json]) -> list[Json]:
    buckets: list[Json] = []
    for _, logical_id, _ in stack.resources("aws_s3_bucket"):
        name = stack.name_of("aws_s3_bucket", logical_id)

        def about_bucket(kind: str, bucket_id: str = logical_id) -> list[Json]:
            return [
                c
                for _, _, c in stack.resources(kind)
                if stack.referenced(c.get("bucket"), "aws_s3_bucket") == bucket_id
            ]

        encryption = [
            f"{rule['sse_algorithm']}"
            + (
                f" with {stack.readable(rule['kms_master_key_id'])}"
                if rule.get("kms_master_key_id")
                else ""
            )
            for c in about_bucket("aws_s3_bucket_server_side_encryption_configuration")
            for r in c.get("rule", [])
            for rule in _as_list(r.get("apply_server_side_encryption_by_default"))
        ]
        blocks = about_bucket("aws_s3_bucket_public_access_block")
        settings = (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
        public_access_block = (
            "missing"
            if not blocks
            else "all four settings on"
            if all(blocks[0].get(s) is True for s in settings)
            else "partly off: " + ", ".join(s for s in settings if blocks[0].get(s) is not True)
        )
        versioning = [
            v.get("status", "")
            for c in about_bucket("aws_s3_bucket_versioning")
            for v in _as_list(c.get("versioning_configuration"))
        ]
        policy = [
            s
            for c in about_bucket("aws_s3_bucket_policy")
            for s in stack.statements(c.get("policy"))
        ]
        grants = [
            {
                "principal": principal,
                "access": _s3_access(statement["actions"]),
                "actions": statement["actions"],
                "resources": statement["resources"],
                "conditions": statement["conditions"],
                "source": f"bucket policy {statement['sid']}".strip(),
            }
            for statement in policy
            if statement["effect"] == "Allow"
            for principal in statement["principals"]
        ]
        grants.extend(
            {
                "principal": identity["principal"],
                "access": _s3_access(statement["actions"]),
                "actions": statement["actions"],
                "resources": [
                    r for r in statement["resources"] if r == "*" or r.split("/")[0] == name
                ],
                "conditions": statement["conditions"],
                "source": f"identity policy {identity['policy']}",
            }
            for identity in identities
            if (statement := identity["statement"])["effect"] == "Allow"
            and any(r == "*" or r.split("/")[0] == name for r in statement["resources"])
            and any(a.lower().startswith(("s3:", "*")) for a in statement["actions"])
        )
        keys = {
            key_id
            for c in about_bucket("aws_s3_bucket_server_side_encryption_configuration")
            for r in c.get("rule", [])
            for rule in _as_list(r.get("apply_server_side_encryption_by_default"))
            if (key_id := stack.referenced(rule.get("kms_master_key_id"), "aws_kms_key"))
        }
        buckets.append(
            {
                "bucket": name,
                "encryption": encryption or ["none configured (S3 default SSE-S3)"],
                "public_access_block": public_access_block,
                "versioning": versioning[0] if versioning else "not configured",
                "access": sorted(grants, key=lambda g: (g["principal"], g["source"])),
                "decrypt": [
                    g for key_id in sorted(keys) for g in _decrypts(stack, key_id, identities)
                ],
                "denies": [
                    {
                        "principals": s["principals"],
                        "actions": s["actions"],
                        "resources": s["resources"],
                        "conditions": s["conditions"],
                        "sid": s["sid"],
                    }
                    for s in policy
                    if s["effect"] == "Deny"
                ],
            }
        )
    return buckets


def _covers(resources: Sequence[str], target: str) -> bool:
    """True when a readable resource list names `target` (alone, in an ARN, or with a suffix)."""
    pattern = re.compile(re.escape(target) + r"($|[/*:-])")
    return any(r == "*" or pattern.search(r) for r in resources)


def _secrets(stack: Stack, roles: list[Json]) -> list[Json]:
    secrets: list[Json] = []
    for _, logical_id, config in stack.resources("aws_secretsmanager_secret"):
        name = stack.name_of("aws_secretsmanager_secret", logical_id)
        versions = [
            c
            for _, _, c in stack.resources("aws_secretsmanager_secret_version")
            if stack.referenced(c.get("secret_id"), "aws_secretsmanager_secret") == logical_id
        ]
        value = (
            "none set by Terraform"
            if not versions
            else "secret_string: IN STATE AND PLAN"
            if any(v.get("secret_string") or v.get("secret_binary") for v in versions)
            else "secret_string_wo (write-only: not in state or plan)"
        )
        reached: list[Json] = [
            {"role": role["role"], "actions": s["actions"], "via": "own identity policy"}
            for role in roles
            for permission in role["permissions"]
            for s in permission["statements"]
            if s["effect"] == "Allow"
            and _grants(s["actions"], _SECRET_READ)
            and _covers(s["resources"], name)
        ]
        # Second hop: an AppConfig profile reading this secret with a retrieval role, and the
        # roles allowed to fetch that profile's configuration.
        secret_name = str(config.get("name", ""))
        for _, profile_id, profile in stack.resources("aws_appconfig_configuration_profile"):
            location = str(profile.get("location_uri", ""))
            if (
                location not in (f"secretsmanager://{secret_name}",)
                and f"aws_secretsmanager_secret.{logical_id}." not in location
            ):
                continue
            profile_name = stack.name_of("aws_appconfig_configuration_profile", profile_id)
            retrieval = stack.readable(profile.get("retrieval_role_arn", "")) or "no retrieval role"
            reached.extend(
                {
                    "role": role["role"],
                    "actions": s["actions"],
                    "via": f"{profile_name} (AppConfig reads the secret as {retrieval})",
                }
                for role in roles
                for permission in role["permissions"]
                for s in permission["statements"]
                if s["effect"] == "Allow"
                and any(_grants(s["actions"], action) for action in _APPCONFIG_READ)
                and _covers(s["resources"], profile_name)
            )
        policy = [
            s
            for _, _, c in stack.resources("aws_secretsmanager_secret_policy")
            if stack.referenced(c.get("secret_arn"), "aws_secretsmanager_secret") == logical_id
            for s in stack.statements(c.get("policy"))
        ]
        secrets.append(
            {
                "secret": name,
                "kms_key": stack.readable(config.get("kms_key_id", ""))
                or "aws/secretsmanager (AWS managed)",
                "value": value,
                "reached_by": sorted(reached, key=lambda r: (r["role"], r["via"])),
                "resource_policy": policy,
            }
        )
    return secrets


def _merged_values(stack: Stack, release: Json) -> Json:
    values: Json = {}
    for document in release.get("values", []) or []:
        loaded = yaml.safe_load(str(document)) or {}
        if isinstance(loaded, dict):
            _deep_merge(values, loaded)
    for item in list(release.get("set", []) or []) + list(release.get("set_sensitive", []) or []):
        node = values
        *parents, leaf = str(item.get("name", "")).split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = item.get("value")
    return values


def _deep_merge(into: Json, other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _auth(stack: Stack, values: Mapping[str, Any]) -> str:
    auth = values.get("auth")
    if not isinstance(auth, dict):
        return "not configured in the release values (chart default applies)"
    if auth.get("enabled") is False:
        return "DISABLED"
    if auth.get("existingSecret"):
        return f"basic auth, htpasswd from Secret {stack.readable(auth['existingSecret'])}"
    if auth.get("htpasswd"):
        return "basic auth, htpasswd INLINE in the release values (stored in Terraform state)"
    return "enabled (chart default source)"


def _chart_label(config: Mapping[str, Any]) -> str:
    """Where the chart comes from, without the content hash of a cdktf asset path."""
    chart = str(config.get("chart", ""))
    version = str(config.get("version", "") or "")
    if config.get("repository"):
        chart = f"{config['repository']}/{chart}"
    elif chart.startswith("assets/"):
        chart = f"local chart (asset {_logical_path(chart.split('/')[1])})"
    else:
        chart = re.sub(r"^(\.\./)+", "", chart)
    return f"{chart} {version}".strip()


def _irsa_roles(stack: Stack) -> dict[tuple[str, str], str]:
    """(namespace, service account) -> the role its `eks.amazonaws.com/role-arn` names."""
    found = {}
    for kind in ("kubernetes_service_account_v1", "kubernetes_service_account"):
        for _, _, config in stack.resources(kind):
            for metadata in _as_list(config.get("metadata")):
                role = (metadata.get("annotations") or {}).get("eks.amazonaws.com/role-arn")
                if role:
                    key = (str(metadata.get("namespace", "default")), str(metadata.get("name")))
                    found[key] = stack.readable(role)
    return found


def _entry_points(stack: Stack) -> list[Json]:
    releases: list[Json] = []
    service_account_roles = _irsa_roles(stack)
    for _, logical_id, config in stack.resources("helm_release"):
        values = _merged_values(stack, config)
        entries = []
        ingress = values.get("ingress")
        if isinstance(ingress, dict) and ingress.get("enabled"):
            hosts = [ingress["host"]] if ingress.get("host") else []
            hosts += [
                h.get("host", h) if isinstance(h, dict) else h
                for h in ingress.get("hosts", []) or []
            ]
            tls = ingress.get("tls")
            tls_text = (
                "none"
                if not tls
                else "self-signed certificate"
                if isinstance(tls, dict) and tls.get("selfSigned")
                else f"certificate from Secret {tls['secretName']}"
                if isinstance(tls, dict) and tls.get("secretName")
                else json.dumps(tls, sort_keys=True)
            )
            entries.append(
                {
                    "kind": "Ingress",
                    "class": ingress.get("className", "") or "cluster default",
                    "hosts": [stack.readable(h) for h in hosts],
                    "tls": tls_text,
                }
            )
        route = values.get("httpRoute")
        if isinstance(route, dict) and route.get("enabled"):
            entries.append(
                {
                    "kind": "HTTPRoute",
                    "class": ", ".join(
                        str(p.get("name", p)) for p in route.get("parentRefs", []) or []
                    ),
                    "hosts": [stack.readable(h) for h in route.get("hostnames", []) or []],
                    "tls": "terminated by the parent Gateway",
                }
            )
        service = values.get("service")
        if isinstance(service, dict) and service.get("type") in ("LoadBalancer", "NodePort"):
            entries.append(
                {
                    "kind": f"Service {service['type']}",
                    "class": "",
                    "hosts": [],
                    "tls": "none (TCP)",
                }
            )
        release_name = str(config.get("name", _logical_path(logical_id)))
        namespace = str(config.get("namespace", "default"))
        service_account = values.get("serviceAccount")
        if not isinstance(service_account, dict):
            service_account = {}
        # The chart's role annotation (or the web-identity role it projects a token for), else
        # the ServiceAccount Terraform made for the release.
        aws = _as_dict(values.get("aws"))
        web_identity = _as_dict(aws.get("webIdentity"))
        role = str(service_account.get("roleArn", "") or web_identity.get("roleArn", "") or "")
        account_name = str(service_account.get("name", "") or release_name)
        releases.append(
            {
                "release": release_name,
                "chart": _chart_label(config),
                "namespace": namespace,
                "entry_points": entries,
                "auth": _auth(stack, values) if entries else "no entry point",
                "aws_role": stack.readable(role)
                if role
                else f"{STATIC_KEYS} from Secret {namespace}/{aws['existingSecret']}"
                " (its `credentials` key)"
                if aws.get("existingSecret")
                else service_account_roles.get((namespace, account_name), "none"),
            }
        )
    return releases


def _checkov_section(scan: checkov.ScanResult | None) -> Json:
    if scan is None:
        return {"ran": False}
    frameworks = {}
    for name in scan.frameworks:
        report = scan.reports.get(name)
        findings = report.findings if report else ()
        suppressed = sum(1 for f in findings if not f.passed and scan.suppression_for(f))
        frameworks[name] = {
            "resources": report.resources_scanned if report else 0,
            "passed": sum(1 for f in findings if f.passed),
            "failed": sum(1 for f in findings if not f.passed) - suppressed,
            "suppressed": suppressed,
            "parsing_errors": list(report.parsing_errors) if report else [],
        }
    used: dict[int, Json] = {}
    for finding, suppression in scan.suppressed():
        entry = used.setdefault(
            id(suppression),
            {"check": suppression.check, "reason": suppression.reason, "findings": []},
        )
        entry["findings"].append(f"{finding.resource} ({finding.file})")
    return {
        "ran": True,
        "frameworks": frameworks,
        "problems": scan.problems(),
        "suppressions": sorted(
            ({**entry, "findings": sorted(set(entry["findings"]))} for entry in used.values()),
            key=lambda entry: (entry["check"], entry["findings"]),
        ),
    }


def build_review(
    environment: str,
    tf: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    scan: checkov.ScanResult | None,
) -> Json:
    """The review of one stack, or of an environment's stacks together, as plain data (what
    ENV.json holds)."""
    stack = Stack(merge_stacks(tf) if isinstance(tf, Sequence) else tf)
    roles = _roles(stack)
    users = _users(stack)
    identities = _identities(stack, roles)
    return {
        "environment": environment,
        "roles": roles,
        # Only where there are any: most environments have none, and say so by its absence.
        **({"users": users} if users else {}),
        "buckets": _buckets(stack, identities),
        "elsewhere": _elsewhere(stack, identities),
        "secrets": _secrets(stack, roles),
        "helm_releases": _entry_points(stack),
        "checkov": _checkov_section(scan),
    }


# ---- markdown ----


def _statement_lines(statement: Mapping[str, Any], indent: str = "  ") -> list[str]:
    who = f" to {', '.join(statement['principals'])}" if statement["principals"] else ""
    where = f" on {', '.join(statement['resources'])}" if statement["resources"] else ""
    sid = f" ({statement['sid']})" if statement["sid"] else ""
    lines = [
        f"{indent}- **{statement['effect']}**{sid}{who}: `{'`, `'.join(statement['actions'])}`{where}"
    ]
    lines += [f"{indent}  - when {condition}" for condition in statement["conditions"]]
    if statement.get("note"):
        lines.append(f"{indent}  - NOTE: {statement['note']}")
    return lines


def _roles_markdown(roles: Sequence[Json]) -> list[str]:
    out = ["## IAM roles", ""]
    if not roles:
        out += ["No IAM roles.", ""]
    for role in roles:
        out += [f"### {role['role']}", "", "Who may assume it:", ""]
        for statement in role["trust"]:
            out += _statement_lines(statement, "")
        out += ["", "What it may do:", ""]
        if not role["permissions"]:
            out.append("- nothing (no policies attached)")
        for permission in role["permissions"]:
            out.append(f"- {permission['policy']}")
            for statement in permission["statements"]:
                out += _statement_lines(statement)
        out.append("")
    return out


def _users_markdown(users: Sequence[Json]) -> list[str]:
    out = ["## IAM users", ""]
    for user in users:
        out += [f"### {user['user']}", "", f"Access keys: {user['access_keys']}", ""]
        out += ["What it may do:", ""]
        if not user["permissions"]:
            out.append("- nothing (no policies attached)")
        for permission in user["permissions"]:
            out.append(f"- {permission['policy']}")
            for statement in permission["statements"]:
                out += _statement_lines(statement)
        out.append("")
    return out


def _buckets_markdown(buckets: Sequence[Json]) -> list[str]:
    out = ["## S3 buckets", ""]
    if not buckets:
        out += ["No buckets.", ""]
    for bucket in buckets:
        out += [
            f"### {bucket['bucket']}",
            "",
            f"- encryption: {'; '.join(bucket['encryption'])}",
            f"- public access block: {bucket['public_access_block']}",
            f"- versioning: {bucket['versioning']}",
            "",
            "Who can read or write it:",
            "",
        ]
        out += [
            f"- {g['principal']}: **{g['access']}** `{'`, `'.join(g['actions'])}`"
            + (f" on {', '.join(g['resources'])}" if g["resources"] else "")
            + f" ({g['source']})"
            + "".join(f"; when {c}" for c in g["conditions"])
            for g in bucket["access"]
        ] or ["- nobody is granted access"]
        out += ["", "Who can decrypt its objects (the bucket's KMS key):", ""]
        out += [
            f"- {g['principal']}: `{'`, `'.join(g['actions'])}` ({g['source']})"
            + "".join(f"; when {c}" for c in g["conditions"])
            for g in bucket["decrypt"]
        ] or ["- no key of this stack (S3-managed or external key)"]
        out += ["", "Denied:", ""]
        out += [
            f"- {', '.join(d['principals'])}: `{'`, `'.join(d['actions'])}` ({d['sid']})"
            + "".join(f"; when {c}" for c in d["conditions"])
            for d in bucket["denies"]
        ] or ["- no deny statements"]
        out.append("")
    return out


def _elsewhere_markdown(elsewhere: Mapping[str, Any]) -> list[str]:
    out = ["## Buckets and keys of other stacks or accounts", ""]
    if not elsewhere["buckets"] and not elsewhere["kms_keys"]:
        return [*out, "None: every bucket and key this environment uses is its own.", ""]
    out += [
        "This environment's half of a cross-account grant: the owner's bucket policy and key"
        " policy must allow these principals too (see the owner's review).",
        "",
    ]
    for kind, title in (("buckets", "bucket"), ("kms_keys", "KMS key")):
        for target in elsewhere[kind]:
            out += [f"### {title} {target['name']}", ""]
            out += [
                f"- {g['principal']}: `{'`, `'.join(g['actions'])}` on"
                f" {', '.join(g['resources'])} ({g['source']})"
                + "".join(f"; when {c}" for c in g["conditions"])
                for g in target["grants"]
            ]
            out.append("")
    return out


def _secrets_markdown(secrets: Sequence[Json]) -> list[str]:
    out = ["## Secrets", ""]
    if not secrets:
        out += ["No Secrets Manager secrets.", ""]
    for secret in secrets:
        out += [
            f"### {secret['secret']}",
            "",
            f"- encrypted with: {secret['kms_key']}",
            f"- value: {secret['value']}",
            "",
            "Reached by:",
            "",
        ]
        out += [
            f"- {r['role']} via {r['via']}: `{'`, `'.join(r['actions'])}`"
            for r in secret["reached_by"]
        ] or ["- no role in this stack"]
        for statement in secret["resource_policy"]:
            out += _statement_lines(statement, "")
        out.append("")
    return out


def _identity_label(identity: str) -> str:
    return "AWS identity" if identity.startswith(STATIC_KEYS) else "AWS role (IRSA)"


def _releases_markdown(releases: Sequence[Json]) -> list[str]:
    out = ["## Network entry points (Helm releases)", ""]
    if not releases:
        out += ["No Helm releases.", ""]
    for release in releases:
        out += [
            f"### {release['release']} ({release['chart']}, namespace {release['namespace']})",
            "",
            f"- {_identity_label(release['aws_role'])}: {release['aws_role']}",
            f"- auth: {release['auth']}",
        ]
        out += [
            f"- {e['kind']} ({e['class']}): hosts {', '.join(e['hosts']) or 'any'}; TLS {e['tls']}"
            for e in release["entry_points"]
        ] or ["- no ingress, route or external service: cluster-internal only"]
        out.append("")
    return out


def _checkov_markdown(scan: Json) -> list[str]:
    out = ["## checkov", ""]
    if not scan["ran"]:
        return [*out, "checkov was not run for this report.", ""]
    out += ["| framework | resources | passed | failed | suppressed |", "|---|---|---|---|---|"]
    out += [
        f"| {name} | {f['resources']} | {f['passed']} | {f['failed']} | {f['suppressed']} |"
        for name, f in scan["frameworks"].items()
    ]
    out += ["", "Problems (the gate fails on each):", ""]
    out += [f"- {problem}" for problem in scan["problems"]] or ["- none"]
    out += ["", "Suppressions (security/checkov.yaml):", ""]
    for suppression in scan["suppressions"]:
        out += [f"- **{suppression['check']}**: {suppression['reason']}"]
        out += [f"  - {finding}" for finding in suppression["findings"]]
    if not scan["suppressions"]:
        out.append("- none")
    out.append("")
    return out


def render_markdown(review: Mapping[str, Any]) -> str:
    """The review as Markdown, one section per question a reviewer asks."""
    out = [f"# Security review: {review['environment']}", ""]
    out += ["Generated by `berth review` from the synthesized Terraform JSON.", ""]
    out += _roles_markdown(review["roles"])
    if review.get("users"):
        out += _users_markdown(review["users"])
    out += _buckets_markdown(review["buckets"])
    out += _elsewhere_markdown(review["elsewhere"])
    out += _secrets_markdown(review["secrets"])
    out += _releases_markdown(review["helm_releases"])
    out += _checkov_markdown(review["checkov"])
    return "\n".join(out)


def write_review(review: Mapping[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / f"{review['environment']}.md"
    data = directory / f"{review['environment']}.json"
    markdown.write_text(render_markdown(review))
    data.write_text(json.dumps(review, indent=2, sort_keys=True) + "\n")
    return markdown, data
