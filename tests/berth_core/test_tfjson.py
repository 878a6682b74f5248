"""`berth_core.tfjson`: the reader of synthesized Terraform JSON that the review, the synth guards
and the tests share. Hand-written JSON in the shapes cdktf writes, plus the real stacks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from berth_core.tfjson import (
    Condition,
    Principal,
    Reference,
    Statement,
    TerraformJson,
    logical_path,
    references,
    strip_metadata,
)

ROLE = "agent-role_role_0A1B2C3D"
BUCKET = "site_bucket_1A2B3C4D"
KEY = "site_kms-key_2B3C4D5E"
DOCUMENT = "agent-role_trust_3C4D5E6F"
LOOKUP = "agent-role-lookup"

# An account stack: a role whose trust is a policy document, a bucket encrypted with an aliased
# key, a bucket policy written as a JSON string.
ACCOUNT: dict[str, Any] = {
    "provider": {
        "aws": [
            {"region": "eu-west-1"},
            {"alias": "replica", "region": "eu-central-1"},
        ]
    },
    "data": {
        "aws_iam_policy_document": {
            DOCUMENT: {
                "statement": [
                    {
                        "sid": "TrustAgent",
                        "effect": "Allow",
                        "actions": ["sts:AssumeRoleWithWebIdentity"],
                        "principals": [
                            {
                                "type": "Federated",
                                "identifiers": ["${data.aws_iam_openid_connect_provider.oidc.arn}"],
                            }
                        ],
                        "condition": [
                            {
                                "test": "StringEquals",
                                "variable": "${data.aws_iam_openid_connect_provider.oidc.url}:sub",
                                "values": ["system:serviceaccount:tools:agent"],
                            }
                        ],
                    }
                ]
            }
        },
        "aws_iam_openid_connect_provider": {
            "oidc": {"url": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}
        },
    },
    "resource": {
        "aws_iam_role": {
            ROLE: {
                "//": {"metadata": {"path": "uat/agent-role/role", "uniqueId": ROLE}},
                "name": "berth-uat-agent",
                "assume_role_policy": f"${{data.aws_iam_policy_document.{DOCUMENT}.json}}",
            }
        },
        "aws_s3_bucket": {
            BUCKET: {"bucket": "berth-uat-site", "provider": "${aws.replica}"},
        },
        "aws_kms_key": {KEY: {"description": "site"}},
        "aws_kms_alias": {
            "site_alias_4D5E6F70": {
                "name": "alias/berth-uat-site",
                "target_key_id": f"${{aws_kms_key.{KEY}.key_id}}",
            }
        },
        "aws_s3_bucket_policy": {
            "site_policy_5E6F7081": {
                "bucket": f"${{aws_s3_bucket.{BUCKET}.id}}",
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "Everyone",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": f"${{aws_s3_bucket.{BUCKET}.arn}}/*",
                                "Condition": {"Bool": {"aws:SecureTransport": False}},
                            },
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": ["arn:aws:iam::222222222222:root"]},
                                "Action": ["s3:GetObject", "s3:ListBucket"],
                                "Resource": ["*"],
                            },
                        ],
                    }
                ),
            }
        },
    },
    "output": {
        "role_arn": {"value": f"${{aws_iam_role.{ROLE}.arn}}"},
        "bucket": {"value": f"${{aws_s3_bucket.{BUCKET}.bucket}}"},
    },
}
# A workloads stack of the same environment: it only looks the role up, by name.
WORKLOADS: dict[str, Any] = {
    "provider": {"helm": [{}]},
    "data": {"aws_iam_role": {LOOKUP: {"name": "berth-uat-agent"}}},
    "resource": {
        "helm_release": {
            "agent_release_6F708192": {
                "name": "agent",
                "set": [
                    {"name": "roleArn", "value": f"${{data.aws_iam_role.{LOOKUP}.arn}}"},
                    {"name": "role", "value": f"${{aws_iam_role.{ROLE}.name}}"},
                ],
            }
        }
    },
    "output": {"release": {"value": "agent"}},
}


@pytest.fixture
def account() -> TerraformJson:
    return TerraformJson(ACCOUNT)


# ---- references ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"${{aws_iam_role.{ROLE}.arn}}", Reference(False, "aws_iam_role", ROLE, "arn")),
        (
            f"${{data.aws_iam_policy_document.{DOCUMENT}.json}}",
            Reference(True, "aws_iam_policy_document", DOCUMENT, "json"),
        ),
        ("${var.value}", Reference(False, "var", "value", "")),
        (
            "${aws_eks_cluster.main.identity.oidc}",
            Reference(False, "aws_eks_cluster", "main", "identity.oidc"),
        ),
        (f"${{aws_s3_bucket.{BUCKET}.arn}}/*", None),  # a reference inside a string
        ("arn:aws:s3:::berth-uat-site", None),
        (None, None),
    ],
)
def test_a_whole_reference_parses_to_type_logical_id_and_attribute(
    text: str | None, expected: Reference | None
) -> None:
    assert Reference.parse(text) == expected


def test_references_inside_a_string_are_found_in_order() -> None:
    text = f"${{aws_s3_bucket.{BUCKET}.arn}}/charts/${{data.aws_caller_identity.me.account_id}}"
    assert references(text) == [
        Reference(False, "aws_s3_bucket", BUCKET, "arn"),
        Reference(True, "aws_caller_identity", "me", "account_id"),
    ]


def test_referenced_resolves_a_reference_to_the_logical_id_of_its_type(
    account: TerraformJson,
) -> None:
    assert account.referenced(f"${{aws_s3_bucket.{BUCKET}.id}}", "aws_s3_bucket") == BUCKET
    # Another type, a data source or a reference inside a string is not the resource itself.
    assert account.referenced(f"${{aws_s3_bucket.{BUCKET}.id}}", "aws_iam_role") is None
    assert account.referenced(f"${{data.aws_s3_bucket.{BUCKET}.id}}", "aws_s3_bucket") is None
    assert account.referenced(f"${{aws_s3_bucket.{BUCKET}.arn}}/*", "aws_s3_bucket") is None


def test_referenced_takes_only_the_attributes_it_is_given(account: TerraformJson) -> None:
    arn = f"${{aws_s3_bucket.{BUCKET}.arn}}"
    assert account.referenced(arn, "aws_s3_bucket") == BUCKET
    assert account.referenced(arn, "aws_s3_bucket", ("id", "bucket")) is None
    assert (
        account.referenced(f"${{aws_s3_bucket.{BUCKET}.bucket}}", "aws_s3_bucket", ("id", "bucket"))
        == BUCKET
    )


def test_referenced_finds_a_resource_by_its_literal_name(account: TerraformJson) -> None:
    assert account.referenced("berth-uat-site", "aws_s3_bucket") == BUCKET
    assert account.referenced("berth-uat-agent", "aws_iam_role") == ROLE
    assert account.referenced("berth-uat-other", "aws_iam_role") is None
    assert account.referenced("", "aws_iam_role") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"${{aws_iam_role.{ROLE}.arn}}", "role:berth-uat-agent"),
        (f"${{aws_s3_bucket.{BUCKET}.arn}}/charts/*", "bucket:berth-uat-site/charts/*"),
        # An attribute that is not a name is shown as such.
        (f"${{aws_s3_bucket.{BUCKET}.region}}", "<region of bucket:berth-uat-site>"),
        # A key is shown by its alias; a resource without a literal name by its construct path.
        (f"${{aws_kms_key.{KEY}.arn}}", "kms-key:alias/berth-uat-site"),
        ("${aws_iam_role.other_role_7A8B9C0D.arn}", "role:other/role"),
        # Data sources read as what they look up.
        (
            "${data.aws_iam_openid_connect_provider.oidc.arn}",
            "oidc-provider:https://oidc.eks.eu-west-1.amazonaws.com/id/ABC (looked up)",
        ),
        ("${data.aws_caller_identity.me_1A2B3C4D.account_id}", "data.aws_caller_identity:me"),
        ("${var.value}", "var.value"),
    ],
)
def test_readable_replaces_every_reference_by_a_name(
    account: TerraformJson, text: str, expected: str
) -> None:
    assert account.readable(text) == expected


def test_logical_path_drops_the_hash_cdktf_appends() -> None:
    assert logical_path("helm-repo_kms-key_D00AC9CA") == "helm-repo/kms-key"
    assert logical_path("publisher") == "publisher"


# ---- policies ----


def test_statements_of_a_policy_document_reference(account: TerraformJson) -> None:
    role = account.resource("aws_iam_role", ROLE)
    assert role is not None
    (trust,) = account.statements(role.config["assume_role_policy"])
    assert trust == Statement(
        sid="TrustAgent",
        effect="Allow",
        principals=(Principal("Federated", ("${data.aws_iam_openid_connect_provider.oidc.arn}",)),),
        actions=("sts:AssumeRoleWithWebIdentity",),
        resources=(),
        conditions=(
            Condition(
                "StringEquals",
                "${data.aws_iam_openid_connect_provider.oidc.url}:sub",
                ("system:serviceaccount:tools:agent",),
            ),
        ),
    )
    assert account.policy_document(role.config["assume_role_policy"]) == (
        "aws_iam_policy_document",
        DOCUMENT,
        ACCOUNT["data"]["aws_iam_policy_document"][DOCUMENT],
    )


def test_statements_of_a_json_string_policy(account: TerraformJson) -> None:
    (policy,) = account.resources("aws_s3_bucket_policy")
    deny, allow = account.statements(policy.config["policy"])
    # A bare string where JSON allows one: "Principal": "*", "Action": "s3:*".
    assert deny == Statement(
        sid="Everyone",
        effect="Deny",
        principals=(Principal("AWS", ("*",)),),
        actions=("s3:*",),
        resources=(f"${{aws_s3_bucket.{BUCKET}.arn}}/*",),
        conditions=(Condition("Bool", "aws:SecureTransport", ("False",)),),
        inline_json=True,
    )
    assert allow.sid == "" and allow.effect == "Allow"
    assert allow.principals == (Principal("AWS", ("arn:aws:iam::222222222222:root",)),)
    assert allow.actions == ("s3:GetObject", "s3:ListBucket")
    assert account.policy_document(policy.config["policy"]) is None


@pytest.mark.parametrize(
    "policy",
    [
        None,
        "",
        "${jsonencode(local.policy)}",
        "[1, 2]",
        "${data.aws_iam_policy_document.gone.json}",
    ],
)
def test_what_is_not_a_readable_policy_has_no_statements(
    account: TerraformJson, policy: str | None
) -> None:
    assert account.statements(policy) == []


# ---- blocks ----


def test_blocks_are_sorted_and_filtered_by_type_and_construct() -> None:
    tf = TerraformJson(
        {
            "resource": {
                "aws_s3_bucket": {
                    "site_bucket_2": {},
                    "repo_bucket_1": {},
                    "site-two_bucket_3": {},
                },
                "aws_iam_role": {"site_role_4": {}},
            }
        }
    )
    assert [(b.type, b.logical_id) for b in tf.resources()] == [
        ("aws_iam_role", "site_role_4"),
        ("aws_s3_bucket", "repo_bucket_1"),
        ("aws_s3_bucket", "site-two_bucket_3"),
        ("aws_s3_bucket", "site_bucket_2"),
    ]
    # `site` is a construct id: `site-two` is another construct.
    assert [b.logical_id for b in tf.resources("aws_s3_bucket", "site")] == ["site_bucket_2"]
    assert tf.resources("aws_kms_key") == []


def test_construct_path_comes_from_the_metadata_until_it_is_stripped(
    account: TerraformJson,
) -> None:
    (role,) = account.resources("aws_iam_role")
    assert role.construct_path == "uat/agent-role/role"
    (stripped,) = TerraformJson(strip_metadata(ACCOUNT)).resources("aws_iam_role")
    assert stripped.construct_path is None
    assert "//" not in stripped.config and "//" in ACCOUNT["resource"]["aws_iam_role"][ROLE]


def test_providers_and_the_provider_each_block_uses(account: TerraformJson) -> None:
    assert [name for name, _ in account.providers("aws")] == ["aws", "aws.replica"]
    assert account.providers("kubernetes") == []
    blocks = {b.type: b for b in account.resources()}
    assert blocks["aws_s3_bucket"].provider == "aws.replica"
    assert blocks["aws_iam_role"].provider == "aws"


def test_outputs_are_sorted_by_name(account: TerraformJson) -> None:
    assert [name for name, _ in account.outputs()] == ["bucket", "role_arn"]


# ---- an environment's stacks together ----


def test_merged_stacks_resolve_references_across_stacks() -> None:
    before = copy.deepcopy([ACCOUNT, WORKLOADS])
    merged = TerraformJson.merge([ACCOUNT, WORKLOADS])
    (release,) = merged.resources("helm_release")
    role_arn, role_name = (item["value"] for item in release.config["set"])
    # The workloads stack looks the role up; the account stack creates it: one name for both.
    assert merged.readable(role_arn) == "role:berth-uat-agent (looked up)"
    assert merged.readable(role_name) == "role:berth-uat-agent"
    assert merged.referenced(role_name, "aws_iam_role") == ROLE
    assert {b.type for b in merged.resources()} >= {"aws_iam_role", "helm_release"}
    assert {b.type for b in merged.data_sources()} == {
        "aws_iam_policy_document",
        "aws_iam_openid_connect_provider",
        "aws_iam_role",
    }
    # Alone, the workloads stack cannot name the account stack's role.
    assert TerraformJson(WORKLOADS).readable(role_name) == "role:agent-role/role"
    # Providers and outputs are per stack; the stacks given are left as they were.
    assert merged.providers("aws") == [] and merged.outputs() == []
    assert before == [ACCOUNT, WORKLOADS]


def test_every_reference_in_the_real_environments_resolves(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    """Each `${type.id...}` of each environment's stacks names a block that its stacks hold."""
    for environment in ("local", "uat", "prod", "edge"):
        stacks = [tf for name, tf in synthesized.items() if name.split("-")[0] == environment]
        merged = TerraformJson.merge(stacks)
        found = [
            reference
            for block in [*merged.resources(), *merged.data_sources()]
            for reference in references(json.dumps(block.config))
            if reference.type != "var"
        ]
        assert found, environment
        dangling = [
            r
            for r in found
            if (merged.data_source if r.data else merged.resource)(r.type, r.logical_id) is None
        ]
        assert dangling == [], environment
        assert "${" not in "".join(
            merged.readable(json.dumps(b.config))
            for b in merged.resources()
            if b.type == "aws_iam_role"
        ), environment
