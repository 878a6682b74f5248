"""S3 buckets: encryption, public access block, versioning, who may read, write or decrypt."""

from __future__ import annotations

from collections.abc import Sequence

from berth.review.iam import decrypts
from berth.review.statements import grants, readable_statements
from berth_core.tfjson import Json, TerraformJson, as_list

_READ_ACTIONS = ("s3:Get*", "s3:List*", "s3:Head*")
_WRITE_ACTIONS = (
    "s3:Put*",
    "s3:Delete*",
    "s3:AbortMultipartUpload",
    "s3:Restore*",
    "s3:Replicate*",
)


def _s3_access(actions: Sequence[str]) -> str:
    read = any(
        grants([a], pattern) or grants([pattern], a) for a in actions for pattern in _READ_ACTIONS
    )
    write = any(
        grants([a], pattern) or grants([pattern], a) for a in actions for pattern in _WRITE_ACTIONS
    )
    return "read+write" if read and write else "write" if write else "read" if read else "other"


def buckets(stack: TerraformJson, identities: list[Json]) -> list[Json]:
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
            for rule in as_list(r.get("apply_server_side_encryption_by_default"))
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
            for v in as_list(c.get("versioning_configuration"))
        ]
        policy = [
            s
            for c in about_bucket("aws_s3_bucket_policy")
            for s in readable_statements(stack, c.get("policy"))
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
            for rule in as_list(r.get("apply_server_side_encryption_by_default"))
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
                    g for key_id in sorted(keys) for g in decrypts(stack, key_id, identities)
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
