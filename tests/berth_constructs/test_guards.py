"""Synth-time guards (berth_constructs.guards): tags, bucket protection and dangling IAM
references stop synthesis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cdktf
import pytest
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_aws.provider import (
    AwsProvider,
    AwsProviderAssumeRole,
    AwsProviderDefaultTags,
    AwsProviderIgnoreTags,
)
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from constructs import Construct

from berth_constructs.guards import REQUIRED_TAGS, add_guards, find_violations
from berth_constructs.helm_repo_bucket import HelmRepoBucket, HelmRepoBucketProps
from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.lookups import existing_role_arn
from tests.support.constants import ACCOUNT, EKS_PROVIDER_ARN, role_arn

TAGS = {"Environment": "test", "ManagedBy": "berth", "Owner": "platform"}
PUBLISHER = role_arn("publisher")
# Another account's role cannot be looked up from this one: it stays literal, and is allowed.
PARTNER = "arn:aws:iam::999999999999:role/partner-reader"
BLOCK_ALL = dict.fromkeys(
    ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"),
    True,
)


def _provider(stack: Construct, **settings: object) -> None:
    tags = settings.pop("tags", TAGS)
    AwsProvider(
        stack,
        "aws",
        region="eu-west-1",
        default_tags=[AwsProviderDefaultTags(tags=tags)] if tags is not None else None,
        **settings,  # type: ignore[arg-type]
    )


def _encryption(stack: Construct, id: str, bucket: str) -> None:
    S3BucketServerSideEncryptionConfigurationA(
        stack,
        id,
        bucket=bucket,
        rule=[
            S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                    sse_algorithm="aws:kms"
                )
            )
        ],
    )


def _protected_bucket(stack: Construct, **bucket_settings: object) -> S3Bucket:
    bucket = S3Bucket(stack, "bucket", bucket="a-bucket", **bucket_settings)  # type: ignore[arg-type]
    _encryption(stack, "encryption", bucket.id)
    S3BucketPublicAccessBlock(stack, "public-access-block", bucket=bucket.id, **BLOCK_ALL)
    return bucket


def _no_encryption(stack: Construct) -> None:
    bucket = S3Bucket(stack, "bucket", bucket="a-bucket")
    S3BucketPublicAccessBlock(stack, "public-access-block", bucket=bucket.id, **BLOCK_ALL)


def _no_public_access_block(stack: Construct) -> None:
    bucket = S3Bucket(stack, "bucket", bucket="a-bucket")
    _encryption(stack, "encryption", bucket.id)


def _public_access_block_partly_off(stack: Construct) -> None:
    bucket = S3Bucket(stack, "bucket", bucket="a-bucket")
    _encryption(stack, "encryption", bucket.id)
    S3BucketPublicAccessBlock(
        stack,
        "public-access-block",
        bucket=bucket.id,
        **{**BLOCK_ALL, "restrict_public_buckets": False},
    )


def _encryption_of_another_bucket(stack: Construct) -> None:
    bucket = S3Bucket(stack, "bucket", bucket="a-bucket")
    other = S3Bucket(stack, "other", bucket="other-bucket")
    _encryption(stack, "encryption", other.id)
    _encryption(stack, "other-encryption", other.bucket)
    S3BucketPublicAccessBlock(stack, "public-access-block", bucket=bucket.id, **BLOCK_ALL)
    S3BucketPublicAccessBlock(
        stack, "other-public-access-block", bucket="other-bucket", **BLOCK_ALL
    )


def _dangling_publisher(stack: Construct) -> None:
    HelmRepoBucket(
        stack,
        "helm-repo",
        HelmRepoBucketProps(
            bucket_name="dangling-charts",
            account_id=ACCOUNT,
            region="eu-west-1",
            publisher_principals=[PUBLISHER],
            reader_principals=[f"arn:aws:iam::{ACCOUNT}:root"],
        ),
    )


def _dangling_oidc_provider(stack: Construct) -> None:
    IrsaServiceAccount(
        stack,
        "irsa",
        IrsaServiceAccountProps(
            namespace="tools",
            name="agent",
            role_name="agent",
            oidc_provider_arn=EKS_PROVIDER_ARN,
            create_service_account=False,
        ),
    )


BROKEN: dict[str, tuple[Callable[[Construct], None], dict[str, object], str]] = {
    # name: (resources, provider settings, expected message part)
    "no-encryption": (_no_encryption, {}, "no aws_s3_bucket_server_side_encryption_configuration"),
    "no-public-access-block": (_no_public_access_block, {}, "no aws_s3_bucket_public_access_block"),
    "public-access-block-off": (
        _public_access_block_partly_off,
        {},
        "leaves restrict_public_buckets off",
    ),
    "encryption-of-another-bucket": (
        _encryption_of_another_bucket,
        {},
        "aws_s3_bucket bucket: no aws_s3_bucket_server_side_encryption_configuration",
    ),
    "no-default-tags": (
        _protected_bucket,
        {"tags": None},
        "lack required tag(s) Environment, ManagedBy",
    ),
    "default-tags-miss-a-key": (
        _protected_bucket,
        {"tags": {"Environment": "test"}},
        "lack required tag(s) ManagedBy",
    ),
    "ignore-tags-drops-a-key": (
        _protected_bucket,
        {"ignore_tags": [AwsProviderIgnoreTags(keys=["Environment"])]},
        "ignore_tags drops required tag(s) Environment",
    ),
    "resource-blanks-a-required-tag": (
        lambda stack: _protected_bucket(stack, tags={"Environment": "", "Team": "a"}),
        {},
        "tags override required tag Environment",
    ),
    "bucket-policy-names-a-role-nothing-creates": (
        _dangling_publisher,
        {},
        f"names {PUBLISHER}, which this stack neither creates nor looks up",
    ),
    "irsa-trust-names-a-provider-nothing-creates": (
        _dangling_oidc_provider,
        {},
        f"names {EKS_PROVIDER_ARN}, which this stack neither creates nor looks up",
    ),
}


def _errors(stack: TerraformStack) -> list[str]:
    return [
        str(entry.data)
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "@cdktf/error"
    ]


@pytest.fixture(scope="module")
def synthesized_errors() -> dict[str, list[str]]:
    """One app, one small stack per case, each synthesized once; its error annotations."""
    app = cdktf.Testing.app()
    stacks: dict[str, TerraformStack] = {}
    good = TerraformStack(app, "good")
    # The provider's deploy role is named literally: it is the bootstrap's, assumed at plan.
    _provider(
        good, assume_role=[AwsProviderAssumeRole(role_arn=f"arn:aws:iam::{ACCOUNT}:role/deploy")]
    )
    HelmRepoBucket(
        good,
        "helm-repo",
        HelmRepoBucketProps(
            bucket_name="good-charts",
            account_id=ACCOUNT,
            region="eu-west-1",
            # This account's role looked up; another account's and a root named literally.
            publisher_principals=[existing_role_arn(good, "publisher", "publisher")],
            reader_principals=[PARTNER, f"arn:aws:iam::{ACCOUNT}:root"],
        ),
    )
    # Extra tags are fine; repeating a required tag with the default value is too.
    _protected_bucket(good, tags={"Environment": "test", "Team": "a"})
    stacks["good"] = good
    for name, (build, provider_settings, _) in BROKEN.items():
        stack = TerraformStack(app, name)
        _provider(stack, **provider_settings)
        build(stack)
        stacks[name] = stack
    for stack in stacks.values():
        add_guards(stack, account_id=ACCOUNT)
        cdktf.Testing.synth(stack)
    return {name: _errors(stack) for name, stack in stacks.items()}


def test_a_compliant_stack_has_no_errors(synthesized_errors: dict[str, list[str]]) -> None:
    assert synthesized_errors["good"] == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_rule_is_an_error(synthesized_errors: dict[str, list[str]], case: str) -> None:
    expected = BROKEN[case][2]
    errors = synthesized_errors[case]
    assert any(expected in error for error in errors), errors
    assert all(error.startswith("berth guard: ") for error in errors)


def test_app_synth_fails_on_a_guard_error(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "unguarded-bucket")
    _provider(stack)
    _no_encryption(stack)
    add_guards(stack)
    with pytest.raises(RuntimeError, match="no aws_s3_bucket_server_side_encryption_configuration"):
        app.synth()
    assert not (tmp_path / "stacks" / "unguarded-bucket" / "cdk.tf.json").exists()


def test_protection_is_matched_to_the_bucket_it_names(
    synthesized_errors: dict[str, list[str]],
) -> None:
    # `other` is protected through `.id`, `.bucket` and its literal name; only `bucket` is not.
    (error,) = synthesized_errors["encryption-of-another-bucket"]
    assert "aws_s3_bucket bucket:" in error


def test_iam_references_are_only_checked_for_the_given_account() -> None:
    stack = {
        "resource": {
            "aws_iam_role_policy": {
                "p": {"policy": "${data.aws_iam_policy_document.d.json}", "role": "r"}
            }
        },
        "data": {
            "aws_iam_policy_document": {
                "d": {"statement": [{"principals": [{"identifiers": [PUBLISHER]}]}]}
            },
            "aws_iam_role": {"lookup": {"name": "publisher"}},
        },
        "provider": {"aws": [{"default_tags": [{"tags": TAGS}]}]},
    }
    (violation,) = find_violations(stack, REQUIRED_TAGS, ACCOUNT)
    assert violation.logical_id == "d" and PUBLISHER in violation.message
    assert find_violations(stack, REQUIRED_TAGS, "222222222222") == []
    assert find_violations(stack, REQUIRED_TAGS) == []


@pytest.mark.parametrize(
    "stack_name",
    ["local", "prod", "prod-cluster", "prod-workloads", "uat", "uat-cluster", "uat-workloads"],
)
def test_the_environment_stacks_keep_the_rules(
    synthesized: dict[str, dict[str, object]], stack_name: str
) -> None:
    account = {"local": "123456789012", "uat": "111111111111", "prod": "222222222222"}
    violations = find_violations(
        synthesized[stack_name], REQUIRED_TAGS, account[stack_name.split("-", 1)[0]]
    )
    assert violations == []
