"""HelmRepoBucket security properties, asserted on the synthesized JSON of the real stacks.

Each test names one property and fails if the construct stops providing it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from berth_constructs.helm_repo_bucket import HelmRepoBucketProps
from tests.support.tfjson import one_resource, policy_statements, principals, resources, statement

# The construct id of the Helm repository in every stack.
REPO = "helm-repo"
ENVIRONMENTS = ["local", "uat", "prod"]
REAL_ACCOUNTS = ["uat", "prod"]


@pytest.fixture(params=ENVIRONMENTS)
def stack(request: pytest.FixtureRequest, synthesized: dict[str, Any]) -> dict[str, Any]:
    return synthesized[request.param]


def bucket_policy(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return policy_statements(stack, one_resource(stack, "aws_s3_bucket_policy", REPO)["policy"])


def test_versioning_is_enabled(stack: dict[str, Any]) -> None:
    versioning = one_resource(stack, "aws_s3_bucket_versioning", REPO)
    assert versioning["versioning_configuration"]["status"] == "Enabled"


def test_objects_are_encrypted_with_a_rotated_customer_managed_kms_key(
    stack: dict[str, Any],
) -> None:
    encryption = one_resource(stack, "aws_s3_bucket_server_side_encryption_configuration", REPO)
    (rule,) = encryption["rule"]
    default = rule["apply_server_side_encryption_by_default"]
    assert default["sse_algorithm"] == "aws:kms"
    assert default["kms_master_key_id"].startswith("${aws_kms_key.")
    key = one_resource(stack, "aws_kms_key", REPO)
    assert key["enable_key_rotation"] is True


def test_all_four_public_access_blocks_are_on(stack: dict[str, Any]) -> None:
    block = one_resource(stack, "aws_s3_bucket_public_access_block", REPO)
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, setting


def test_acls_are_disabled_by_bucket_owner_enforced(stack: dict[str, Any]) -> None:
    ownership = one_resource(stack, "aws_s3_bucket_ownership_controls", REPO)
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
    assert resources(stack, "aws_s3_bucket_acl") == []  # none anywhere in the stack


@pytest.fixture(params=REAL_ACCOUNTS)
def real_stack(request: pytest.FixtureRequest, synthesized: dict[str, Any]) -> dict[str, Any]:
    return synthesized[request.param]


def test_requests_without_tls_are_denied(real_stack: dict[str, Any]) -> None:
    deny = statement(bucket_policy(real_stack), "DenyInsecureTransport")
    assert deny["effect"] == "Deny"
    assert deny["actions"] == ["s3:*"]
    assert deny["condition"] == [
        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    ]
    assert len(deny["resources"]) == 2


def test_readers_may_get_and_list_and_default_to_the_account(
    stack: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    statements = bucket_policy(stack)
    read = statement(statements, "ReadCharts")
    account = {"local": "123456789012", "uat": "111111111111", "prod": "222222222222"}[
        request.node.callspec.params["stack"]
    ]
    assert principals(read) == [f"arn:aws:iam::{account}:root"]
    assert "s3:GetObject" in read["actions"]
    assert "s3:PutObject" not in read["actions"]
    listing = statement(statements, "ListCharts")
    assert "s3:ListBucket" in listing["actions"]
    assert f"arn:aws:iam::{account}:root" in principals(listing)


def test_only_publishers_are_allowed_to_put_objects(stack: dict[str, Any]) -> None:
    statements = bucket_policy(stack)
    publish = statement(statements, "PublishCharts")
    assert "s3:PutObject" in publish["actions"]
    # The one publisher is the CI chart publisher the same stack creates: a reference to that
    # role, never a literal ARN that might not exist when the policy is written.
    (publisher,) = principals(publish)
    role_id = re.fullmatch(r"\$\{aws_iam_role\.([^.]+)\.arn\}", publisher)
    assert role_id, publisher
    role = stack["resource"]["aws_iam_role"][role_id.group(1)]
    assert role["name"].endswith("-chart-publisher")
    writers = [s for s in statements if s["effect"] == "Allow" and "s3:PutObject" in s["actions"]]
    assert writers == [publish]


def test_everyone_but_the_publishers_is_denied_writes(real_stack: dict[str, Any]) -> None:
    statements = bucket_policy(real_stack)
    publishers = principals(statement(statements, "PublishCharts"))
    # The explicit deny closes the door for same-account admins with broad IAM policies too.
    deny = statement(statements, "DenyChartWritesExceptPublishers")
    assert deny["effect"] == "Deny" and "s3:PutObject" in deny["actions"]
    assert deny["condition"] == [
        {"test": "ArnNotLike", "variable": "aws:PrincipalArn", "values": publishers}
    ]


def test_no_statement_allows_everyone(stack: dict[str, Any]) -> None:
    for stmt in bucket_policy(stack):
        if "*" in principals(stmt):
            assert stmt["effect"] == "Deny" and stmt.get("condition"), stmt["sid"]


def test_noncurrent_versions_expire_after_the_configured_days(
    stack: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    lifecycle = one_resource(stack, "aws_s3_bucket_lifecycle_configuration", REPO)
    (rule,) = lifecycle["rule"]
    days = {"local": 7, "uat": 30, "prod": 90}[request.node.callspec.params["stack"]]
    assert rule["status"] == "Enabled"
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": days}]


def test_every_environment_carries_the_same_conditional_denies(
    synthesized: dict[str, Any],
) -> None:
    # The emulator leaves conditional statements unevaluated instead (berth/emulator), so the
    # local stack needs no emulator-only policy.
    for name in ("local", "uat", "prod"):
        sids = {s["sid"] for s in bucket_policy(synthesized[name])}
        assert sids == {
            "DenyInsecureTransport",
            "DenyChartWritesExceptPublishers",
            "ReadCharts",
            "ListCharts",
            "PublishCharts",
        }, name


def test_only_the_emulator_bucket_may_be_force_destroyed(synthesized: dict[str, Any]) -> None:
    assert one_resource(synthesized["local"], "aws_s3_bucket", REPO)["force_destroy"] is True
    for name in ("uat", "prod"):
        assert one_resource(synthesized[name], "aws_s3_bucket", REPO)["force_destroy"] is False


VALID_PROPS: dict[str, Any] = {
    "bucket_name": "charts",
    "publisher_principals": ["arn:aws:iam::111111111111:role/ci"],
    "reader_principals": ["arn:aws:iam::111111111111:root"],
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"publisher_principals": []}, "publisher_principals: at least one publisher"),
        ({"reader_principals": []}, "reader_principals: at least one reader"),
        ({"reader_principals": ["*"]}, r"principals: '\*' is not an IAM ARN"),
        (
            {"noncurrent_version_expiration_days": 0},
            "noncurrent_version_expiration_days: must be between",
        ),
    ],
)
def test_props_refuse_insecure_or_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HelmRepoBucketProps(**{**VALID_PROPS, **changes})
