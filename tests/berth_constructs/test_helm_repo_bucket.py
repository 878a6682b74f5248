"""HelmRepoBucket security properties, asserted on the synthesized JSON of the real stacks.

Each test names one property and fails if the construct stops providing it.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth_constructs.helm_repo_bucket import HelmRepoBucketProps
from tests.support.constants import (
    ACCOUNT,
    EDGE_ACCOUNT,
    ENVIRONMENT_ACCOUNTS,
    OTHER_ACCOUNT,
    role_arn,
)
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import (
    Reference,
    one_resource,
    policy_statements,
    principals,
    resources,
    statement,
)

# The construct id of the Helm repository in every stack.
REPO = "helm-repo"
ENVIRONMENTS = ["local", "uat", "prod"]
REAL_ACCOUNTS = ["uat", "prod"]


@pytest.fixture(params=ENVIRONMENTS)
def stack(request: pytest.FixtureRequest, synthesized: dict[str, Any]) -> dict[str, Any]:
    return synthesized[request.param]


def bucket_policy(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return policy_statements(stack, one_resource(stack, "aws_s3_bucket_policy", REPO)["policy"])


def key_policy(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return policy_statements(stack, one_resource(stack, "aws_kms_key", REPO)["policy"])


VIA_S3 = {
    "test": "StringEquals",
    "variable": "kms:ViaService",
    "values": ["s3.eu-west-1.amazonaws.com"],
}


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


# uat owns the central repository that prod's account reads (environments/uat.yaml).
OTHER_READERS = {"local": [], "uat": [f"arn:aws:iam::{OTHER_ACCOUNT}:root"], "prod": []}


def test_readers_may_get_and_list_below_the_prefix_the_account_first(
    stack: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["stack"]
    statements = bucket_policy(stack)
    read = statement(statements, "ReadCharts")
    account_root = f"arn:aws:iam::{ENVIRONMENT_ACCOUNTS[name]}:root"
    assert principals(read) == [account_root, *OTHER_READERS[name]]
    assert read["actions"] == ["s3:GetObject", "s3:GetObjectVersion"]
    (charts,) = read["resources"]
    assert charts.endswith("/charts/*")
    listing = statement(statements, "ListCharts")
    assert listing["actions"] == ["s3:ListBucket"]
    assert account_root in principals(listing)
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["charts/*"]}
    ]


def test_only_publishers_are_allowed_to_put_objects(stack: dict[str, Any]) -> None:
    statements = bucket_policy(stack)
    publish = statement(statements, "PublishCharts")
    assert "s3:PutObject" in publish["actions"]
    # The one publisher is the CI chart publisher the same stack creates: a reference to that
    # role, never a literal ARN that might not exist when the policy is written.
    (publisher,) = principals(publish)
    role_id = Reference.parse(publisher)
    assert role_id and not role_id.data, publisher
    assert (role_id.type, role_id.attribute) == ("aws_iam_role", "arn"), publisher
    role = stack["resource"]["aws_iam_role"][role_id.logical_id]
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


def test_the_key_has_an_explicit_policy_the_account_administers(
    stack: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["stack"]
    statements = key_policy(stack)
    admin = statement(statements, "AccountAdministersKey")
    assert principals(admin) == [f"arn:aws:iam::{ENVIRONMENT_ACCOUNTS[name]}:root"]
    assert admin["actions"] == ["kms:*"]
    # Only the readers in other accounts get more, and only kms:Decrypt through S3.
    others = [s for s in statements if s["sid"] != "AccountAdministersKey"]
    assert [principals(s) for s in others] == ([OTHER_READERS[name]] if OTHER_READERS[name] else [])
    for stmt in others:
        assert stmt["actions"] == ["kms:Decrypt"]
        assert stmt["condition"] == [VIA_S3]


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
            "LocateChartBucket",
            "PublishCharts",
        }, name


def test_only_the_emulator_bucket_may_be_force_destroyed(synthesized: dict[str, Any]) -> None:
    assert one_resource(synthesized["local"], "aws_s3_bucket", REPO)["force_destroy"] is True
    for name in ("uat", "prod"):
        assert one_resource(synthesized[name], "aws_s3_bucket", REPO)["force_destroy"] is False


VALID_PROPS: dict[str, Any] = {
    "bucket_name": "charts",
    "account_id": "111111111111",
    "region": "eu-west-1",
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
        ({"account_id": "1111"}, "account_id: '1111' is not a 12-digit"),
        ({"region": "Ireland"}, "region: 'Ireland' is not an AWS region"),
        ({"prefix": "charts"}, "prefix: 'charts' must be path segments ending in '/'"),
        ({"prefix": "ch*rts/"}, "prefix: 'ch\\*rts/' must be path segments"),
        ({"reader_organization_id": "acme"}, "reader_organization_id: 'acme' is not an"),
        ({"reader_organization_paths": ["*"]}, r"reader_organization_paths: '\*' is not an"),
        (
            {"reader_organization_paths": ["o-a1b2c3d4e5/*/ou-ab12-11111111/"]},
            "reader_organization_paths: .* is not an organization path",
        ),
        (
            {
                "kms_key_arn": "arn:aws:kms:eu-west-1:111111111111:key/k",
                "reader_principals": ["arn:aws:iam::222222222222:root"],
            },
            "kms_key_arn: readers outside the account need a decrypt grant",
        ),
    ],
)
def test_props_refuse_insecure_or_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HelmRepoBucketProps(**{**VALID_PROPS, **changes})


# ---- a central repository: one reader of each kind, each grant exactly as narrow as meant ----

READER_ROLE = role_arn("ci-chart-reader", EDGE_ACCOUNT)
ORGANIZATION = "o-a1b2c3d4e5"
ORGANIZATION_PATH = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"


@pytest.fixture(scope="module")
def central() -> dict[str, Any]:
    """A stack with one central repository below `charts/`, read by an account, a role of a
    third account, an organization and an organization path."""
    from berth_constructs.helm_repo_bucket import HelmRepoBucket
    from berth_constructs.lookups import existing_role_arn

    stack = new_stack("central")
    HelmRepoBucket(
        stack,
        REPO,
        HelmRepoBucketProps(
            bucket_name="central-charts",
            account_id=ACCOUNT,
            region="eu-west-1",
            prefix="charts/",
            publisher_principals=[existing_role_arn(stack, "publisher", "publisher")],
            reader_principals=[
                f"arn:aws:iam::{ACCOUNT}:root",
                f"arn:aws:iam::{OTHER_ACCOUNT}:root",
                READER_ROLE,
            ],
            reader_organization_id=ORGANIZATION,
            reader_organization_paths=[ORGANIZATION_PATH],
        ),
    )
    return stack_json(stack)


def _bucket_arn(stack: dict[str, Any]) -> str:
    (logical_id,) = stack["resource"]["aws_s3_bucket"]
    return f"${{aws_s3_bucket.{logical_id}.arn}}"


def _allows(statements: list[dict[str, Any]], principal: str) -> list[dict[str, Any]]:
    return [s for s in statements if s["effect"] == "Allow" and principal in principals(s)]


@pytest.mark.parametrize(
    "reader",
    [f"arn:aws:iam::{OTHER_ACCOUNT}:root", READER_ROLE],
    ids=["account", "role"],
)
def test_a_named_reader_gets_the_charts_below_the_prefix_and_nothing_more(
    central: dict[str, Any], reader: str
) -> None:
    bucket = _bucket_arn(central)
    granted = {s["sid"]: s for s in _allows(bucket_policy(central), reader)}
    assert set(granted) == {"ReadCharts", "ListCharts", "LocateChartBucket"}
    assert granted["ReadCharts"]["actions"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert granted["ReadCharts"]["resources"] == [f"{bucket}/charts/*"]
    assert "condition" not in granted["ReadCharts"]
    assert granted["ListCharts"]["actions"] == ["s3:ListBucket"]
    assert granted["ListCharts"]["resources"] == [bucket]
    assert granted["ListCharts"]["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["charts/*"]}
    ]
    assert granted["LocateChartBucket"]["actions"] == ["s3:GetBucketLocation"]


@pytest.mark.parametrize(
    "reader",
    [f"arn:aws:iam::{OTHER_ACCOUNT}:root", READER_ROLE],
    ids=["account", "role"],
)
def test_a_named_reader_may_decrypt_through_s3_only(central: dict[str, Any], reader: str) -> None:
    (grant,) = _allows(key_policy(central), reader)
    assert grant["sid"] == "DecryptChartsForReaders"
    assert grant["actions"] == ["kms:Decrypt"]
    assert grant["condition"] == [VIA_S3]
    # Named readers only: the account's root is the administrator, not a reader of the key.
    assert principals(grant) == [f"arn:aws:iam::{OTHER_ACCOUNT}:root", READER_ROLE]


ORGANIZATION_CONDITIONS = {
    "InOrganization": {
        "test": "StringEquals",
        "variable": "aws:PrincipalOrgID",
        "values": [ORGANIZATION],
    },
    # A multivalued key: ForAnyValue (ForAllValues would hold for a caller outside any org).
    "InOrganizationPaths": {
        "test": "ForAnyValue:StringLike",
        "variable": "aws:PrincipalOrgPaths",
        "values": [ORGANIZATION_PATH],
    },
}


@pytest.mark.parametrize("suffix", sorted(ORGANIZATION_CONDITIONS), ids=["org-id", "org-path"])
def test_an_organization_reads_the_charts_only_under_its_condition(
    central: dict[str, Any], suffix: str
) -> None:
    bucket = _bucket_arn(central)
    member = ORGANIZATION_CONDITIONS[suffix]
    statements = {s["sid"]: s for s in bucket_policy(central)}
    read, listing = statements[f"ReadCharts{suffix}"], statements[f"ListCharts{suffix}"]
    for stmt in (read, listing):
        assert stmt["effect"] == "Allow"
        assert principals(stmt) == ["*"]
    assert read["actions"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert read["resources"] == [f"{bucket}/charts/*"]
    assert read["condition"] == [member]
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["condition"] == [
        member,
        {"test": "StringLike", "variable": "s3:prefix", "values": ["charts/*"]},
    ]


@pytest.mark.parametrize("suffix", sorted(ORGANIZATION_CONDITIONS), ids=["org-id", "org-path"])
def test_an_organization_decrypts_only_under_its_condition_and_through_s3(
    central: dict[str, Any], suffix: str
) -> None:
    grant = statement(key_policy(central), f"DecryptCharts{suffix}")
    assert grant["effect"] == "Allow"
    assert principals(grant) == ["*"]
    assert grant["actions"] == ["kms:Decrypt"]
    assert grant["condition"] == [ORGANIZATION_CONDITIONS[suffix], VIA_S3]


def test_every_allow_to_everyone_is_narrowed_to_the_organization(central: dict[str, Any]) -> None:
    narrowing = {(c["test"], c["variable"]) for c in ORGANIZATION_CONDITIONS.values()}
    for stmt in [*bucket_policy(central), *key_policy(central)]:
        if "*" not in principals(stmt) or stmt["effect"] == "Deny":
            continue
        tests = {(c["test"], c["variable"]) for c in stmt.get("condition", [])}
        assert tests & narrowing, stmt["sid"]


def test_only_the_account_administers_the_central_key(central: dict[str, Any]) -> None:
    for stmt in key_policy(central):
        if stmt["sid"] == "AccountAdministersKey":
            assert principals(stmt) == [f"arn:aws:iam::{ACCOUNT}:root"]
        else:
            assert stmt["actions"] == ["kms:Decrypt"], stmt["sid"]
