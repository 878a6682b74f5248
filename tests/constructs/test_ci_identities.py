"""CiIdentities security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once, holds two instances:
- `strict`: creates the OIDC provider, literal ARNs, a KMS-encrypted state bucket, defaults;
- `flagged`: an existing provider, bucket/key ARNs as tokens (as the stack passes them from
  HelmRepoBucket), a wildcard publisher subject (flag set) and deploy session tags.
Each test fails if the construct loosens the property it names.
"""

from __future__ import annotations

import json
from typing import Any

import cdktf
import pytest

from berth_constructs.ci_identities import CiIdentities, CiIdentitiesProps
from tests.support.tfjson import policy_statements, principals, resources, statement

ISSUER = "token.actions.githubusercontent.com"
EXISTING_PROVIDER_ARN = f"arn:aws:iam::222222222222:oidc-provider/{ISSUER}"
BUCKET_ARN = "arn:aws:s3:::berth-uat-helm-charts"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/0d1f2e3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
STATE_KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"
DEPLOY_ROLE_ARN = "arn:aws:iam::111111111111:role/berth-uat-deploy"
PROD_DEPLOY_ROLE_ARN = "arn:aws:iam::222222222222:role/berth-prod-deploy"
STATE_BUCKET = "berth-terraform-state-111111111111"
CLUSTER_STATE_ARN = f"arn:aws:s3:::{STATE_BUCKET}/eks/uat.tfstate"

VALID_PROPS: dict[str, Any] = {
    "repository": "acme/berth",
    "environment_name": "uat",
    "name_prefix": "berth-uat",
    "region": "eu-west-1",
    "helm_repo_bucket_arn": BUCKET_ARN,
    "helm_repo_kms_key_arn": KEY_ARN,
    "deploy_role_arn": DEPLOY_ROLE_ARN,
    "state_bucket": STATE_BUCKET,
    "state_key": "berth/uat.tfstate",
    "create_oidc_provider": True,
}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    from cdktf_cdktf_provider_aws.kms_key import KmsKey
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

    app = cdktf.Testing.app()
    stack = cdktf.TerraformStack(app, "test")
    AwsProvider(stack, "aws", region="eu-west-1")
    CiIdentities(
        stack,
        "strict",
        CiIdentitiesProps(
            **VALID_PROPS,
            state_kms_key_arn=STATE_KEY_ARN,
            readable_state_object_arns=[CLUSTER_STATE_ARN],
        ),
    )
    charts = S3Bucket(stack, "charts", bucket="berth-prod-helm-charts")
    key = KmsKey(stack, "charts-key", description="charts")
    CiIdentities(
        stack,
        "flagged",
        CiIdentitiesProps(
            repository="acme/berth",
            environment_name="prod",
            name_prefix="berth-prod",
            region="eu-west-1",
            helm_repo_bucket_arn=charts.arn,
            helm_repo_kms_key_arn=key.arn,
            deploy_role_arn=PROD_DEPLOY_ROLE_ARN,
            state_bucket="berth-terraform-state-222222222222",
            state_key="berth/prod.tfstate",
            oidc_provider_arn=EXISTING_PROVIDER_ARN,
            publisher_subject="ref:refs/heads/release/*",
            allow_wildcard_subjects=True,
            enable_deploy_session_tags=True,
        ),
    )
    return dict(json.loads(cdktf.Testing.synth(stack)))


def _role_entry(stack: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    (entry,) = [(k, r) for k, r in stack["resource"]["aws_iam_role"].items() if r["name"] == name]
    return entry


def _trust(stack: dict[str, Any], role_name: str) -> dict[str, Any]:
    _, role = _role_entry(stack, role_name)
    (trust,) = policy_statements(stack, role["assume_role_policy"])
    return trust


def _permissions(stack: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    """Statements of every inline policy attached to the role (the construct makes one)."""
    key, _ = _role_entry(stack, role_name)
    policies = [
        p
        for p in resources(stack, "aws_iam_role_policy")
        if p["role"] == f"${{aws_iam_role.{key}.id}}"
    ]
    assert len(policies) == 1, f"expected one inline policy on {role_name}, found {len(policies)}"
    return policy_statements(stack, policies[0]["policy"])


def _conditions(stmt: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {c["variable"]: (c["test"], c["values"]) for c in stmt.get("condition", [])}


@pytest.mark.parametrize(
    ("role_name", "subject"),
    [
        ("berth-uat-chart-publisher", "repo:acme/berth:ref:refs/heads/main"),
        ("berth-uat-deployer", "repo:acme/berth:environment:uat"),
        ("berth-prod-deployer", "repo:acme/berth:environment:prod"),
    ],
)
def test_trust_pins_sub_to_one_repository_and_ref_with_string_equals(
    stack: dict[str, Any], role_name: str, subject: str
) -> None:
    conditions = _conditions(_trust(stack, role_name))
    assert conditions[f"{ISSUER}:sub"] == ("StringEquals", [subject])


@pytest.mark.parametrize(
    "role_name", ["berth-uat-chart-publisher", "berth-uat-deployer", "berth-prod-deployer"]
)
def test_trust_checks_the_sts_audience(stack: dict[str, Any], role_name: str) -> None:
    conditions = _conditions(_trust(stack, role_name))
    assert conditions[f"{ISSUER}:aud"] == ("StringEquals", ["sts.amazonaws.com"])
    assert set(conditions) == {f"{ISSUER}:sub", f"{ISSUER}:aud"}


@pytest.mark.parametrize("role_name", ["berth-uat-chart-publisher", "berth-uat-deployer"])
def test_trust_federates_only_the_created_oidc_provider_with_web_identity(
    stack: dict[str, Any], role_name: str
) -> None:
    trust = _trust(stack, role_name)
    assert trust["effect"] == "Allow"
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert principals(trust, "AWS") == []
    (provider_key,) = stack["resource"]["aws_iam_openid_connect_provider"]
    assert principals(trust, "Federated") == [
        f"${{aws_iam_openid_connect_provider.{provider_key}.arn}}"
    ]


def test_trust_federates_the_given_provider_when_not_creating_one(stack: dict[str, Any]) -> None:
    for role_name in ("berth-prod-chart-publisher", "berth-prod-deployer"):
        assert principals(_trust(stack, role_name), "Federated") == [EXISTING_PROVIDER_ARN]


def test_oidc_provider_is_github_with_the_sts_audience_and_created_once(
    stack: dict[str, Any],
) -> None:
    (provider,) = resources(stack, "aws_iam_openid_connect_provider")
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    # AWS validates GitHub's certificate against its trusted CAs: no pinned thumbprint to rot.
    assert "thumbprint_list" not in provider


def test_wildcard_subject_uses_string_like_only_when_flagged(stack: dict[str, Any]) -> None:
    conditions = _conditions(_trust(stack, "berth-prod-chart-publisher"))
    assert conditions[f"{ISSUER}:sub"] == (
        "StringLike",
        ["repo:acme/berth:ref:refs/heads/release/*"],
    )
    assert conditions[f"{ISSUER}:aud"] == ("StringEquals", ["sts.amazonaws.com"])


def test_publisher_may_only_touch_chart_objects_listing_and_key(stack: dict[str, Any]) -> None:
    statements = _permissions(stack, "berth-uat-chart-publisher")
    assert [s["sid"] for s in statements] == ["PublishCharts", "ListCharts", "UseChartKey"]
    publish = statement(statements, "PublishCharts")
    assert sorted(publish["actions"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert publish["resources"] == [f"{BUCKET_ARN}/*"]
    listing = statement(statements, "ListCharts")
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["resources"] == [BUCKET_ARN]


def test_publisher_uses_the_chart_key_only_through_s3(stack: dict[str, Any]) -> None:
    key = statement(_permissions(stack, "berth-uat-chart-publisher"), "UseChartKey")
    assert sorted(key["actions"]) == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    assert key["resources"] == [KEY_ARN]
    assert _conditions(key) == {"kms:ViaService": ("StringEquals", ["s3.eu-west-1.amazonaws.com"])}


def test_publisher_accepts_bucket_and_key_tokens(stack: dict[str, Any]) -> None:
    statements = _permissions(stack, "berth-prod-chart-publisher")
    (bucket_key,) = stack["resource"]["aws_s3_bucket"]
    (kms_key,) = stack["resource"]["aws_kms_key"]
    assert statement(statements, "PublishCharts")["resources"] == [
        f"${{aws_s3_bucket.{bucket_key}.arn}}/*"
    ]
    assert statement(statements, "ListCharts")["resources"] == [
        f"${{aws_s3_bucket.{bucket_key}.arn}}"
    ]
    assert statement(statements, "UseChartKey")["resources"] == [f"${{aws_kms_key.{kms_key}.arn}}"]


def test_deployer_may_assume_only_the_environment_deploy_role(stack: dict[str, Any]) -> None:
    assume = statement(_permissions(stack, "berth-uat-deployer"), "AssumeDeployRole")
    assert assume["actions"] == ["sts:AssumeRole"]
    assert assume["resources"] == [DEPLOY_ROLE_ARN]


def test_deploy_session_tags_only_when_enabled(stack: dict[str, Any]) -> None:
    assume = statement(_permissions(stack, "berth-prod-deployer"), "AssumeDeployRole")
    assert assume["actions"] == ["sts:AssumeRole", "sts:TagSession"]
    assert assume["resources"] == [PROD_DEPLOY_ROLE_ARN]


def test_deployer_reads_and_writes_only_its_state_and_lock_objects(stack: dict[str, Any]) -> None:
    statements = _permissions(stack, "berth-uat-deployer")
    state = f"arn:aws:s3:::{STATE_BUCKET}/berth/uat.tfstate"
    read_write = statement(statements, "ReadWriteState")
    assert sorted(read_write["actions"]) == ["s3:GetObject", "s3:PutObject"]
    assert read_write["resources"] == [state]
    lock = statement(statements, "LockState")
    assert sorted(lock["actions"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert lock["resources"] == [f"{state}.tflock"]
    # The state object itself can be overwritten (versioned bucket) but never deleted.
    deleters = [s for s in statements if "s3:DeleteObject" in s["actions"]]
    assert deleters == [lock]


def test_deployer_lists_only_its_state_key(stack: dict[str, Any]) -> None:
    listing = statement(_permissions(stack, "berth-uat-deployer"), "ListStateKey")
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["resources"] == [f"arn:aws:s3:::{STATE_BUCKET}"]
    assert _conditions(listing) == {"s3:prefix": ("StringEquals", ["berth/uat.tfstate"])}


def test_deployer_only_reads_other_states_it_was_given(stack: dict[str, Any]) -> None:
    read = statement(_permissions(stack, "berth-uat-deployer"), "ReadOtherStates")
    assert read["actions"] == ["s3:GetObject"]
    assert read["resources"] == [CLUSTER_STATE_ARN]
    prod = _permissions(stack, "berth-prod-deployer")
    assert "ReadOtherStates" not in [s["sid"] for s in prod]


def test_deployer_uses_the_state_key_through_s3_only_when_given(stack: dict[str, Any]) -> None:
    uat = _permissions(stack, "berth-uat-deployer")
    key = statement(uat, "UseStateKey")
    assert key["resources"] == [STATE_KEY_ARN]
    assert _conditions(key) == {"kms:ViaService": ("StringEquals", ["s3.eu-west-1.amazonaws.com"])}
    prod = _permissions(stack, "berth-prod-deployer")
    assert [s["sid"] for s in prod] == [
        "AssumeDeployRole",
        "ListStateKey",
        "ReadWriteState",
        "LockState",
    ]


@pytest.mark.parametrize(
    "role_name",
    [
        "berth-uat-chart-publisher",
        "berth-uat-deployer",
        "berth-prod-chart-publisher",
        "berth-prod-deployer",
    ],
)
def test_no_wildcard_resources_or_actions(stack: dict[str, Any], role_name: str) -> None:
    for stmt in _permissions(stack, role_name):
        assert stmt["effect"] == "Allow"
        assert all("*" not in action for action in stmt["actions"]), stmt["sid"]
        assert "*" not in stmt["resources"], stmt["sid"]
        assert all(not r.endswith(":*") for r in stmt["resources"]), stmt["sid"]


def test_only_the_two_roles_and_their_policies_are_created(stack: dict[str, Any]) -> None:
    names = sorted(r["name"] for r in resources(stack, "aws_iam_role"))
    assert names == [
        "berth-prod-chart-publisher",
        "berth-prod-deployer",
        "berth-uat-chart-publisher",
        "berth-uat-deployer",
    ]
    assert len(resources(stack, "aws_iam_role_policy")) == 4
    for kind in (
        "aws_iam_policy",
        "aws_iam_role_policy_attachment",
        "aws_iam_user",
        "aws_iam_access_key",
    ):
        assert resources(stack, kind) == [], kind


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repository": "acme"}, "repository: 'acme' is not a GitHub repository"),
        ({"repository": "acme/*"}, r"repository: 'acme/\*' is not a GitHub repository"),
        ({"repository": "-acme/berth"}, "repository: '-acme/berth'"),
        ({"repository": "acme/berth/extra"}, "repository: 'acme/berth/extra'"),
        ({"publisher_subject": "ref:refs/heads/*"}, "publisher_subject: .* has a wildcard"),
        ({"deploy_subject": "environment:prod*"}, "deploy_subject: .* has a wildcard"),
        ({"publisher_subject": "pull_request"}, "publisher_subject: 'pull_request' must be"),
        ({"deploy_subject": "main"}, "deploy_subject: 'main' must be"),
        ({"deploy_subject": "environment:"}, "deploy_subject: 'environment:' must be"),
        (
            {"create_oidc_provider": False},
            "oidc_provider_arn: required unless create_oidc_provider",
        ),
        ({"oidc_provider_arn": EXISTING_PROVIDER_ARN}, "oidc_provider_arn: leave it unset"),
        (
            {
                "create_oidc_provider": False,
                "oidc_provider_arn": "arn:aws:iam::111111111111:oidc-provider/gitlab.com",
            },
            "oidc_provider_arn: .* is not the IAM OIDC provider of token.actions",
        ),
        (
            {"helm_repo_bucket_arn": "arn:aws:s3:::*"},
            "helm_repo_bucket_arn: .* is not an S3 bucket ARN",
        ),
        ({"helm_repo_kms_key_arn": "*"}, r"helm_repo_kms_key_arn: '\*' is not a KMS key ARN"),
        (
            {"deploy_role_arn": "arn:aws:iam::111111111111:role/*"},
            "deploy_role_arn: .* is not an IAM role",
        ),
        ({"state_key": "berth/*"}, "state_key: .* must be one object key"),
        (
            {"readable_state_object_arns": ["arn:aws:s3:::states/*"]},
            "readable_state_object_arns: .* is not an S3 object ARN",
        ),
        ({"state_bucket": "Bad_Bucket"}, "state_bucket: 'Bad_Bucket' is not an S3 bucket name"),
        ({"region": "europe"}, "region: 'europe' is not an AWS region"),
        ({"audience": "*"}, r"audience: '\*' must be a fixed"),
        (
            {"oidc_issuer": "https://token.actions.githubusercontent.com"},
            "oidc_issuer: .* without scheme",
        ),
    ],
)
def test_props_refuse_invalid_or_loose_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CiIdentitiesProps(**{**VALID_PROPS, **changes})


def test_props_accept_wildcards_only_with_the_flag() -> None:
    props = CiIdentitiesProps(
        **VALID_PROPS, deploy_subject="environment:uat-*", allow_wildcard_subjects=True
    )
    assert props.effective_deploy_subject == "environment:uat-*"


def test_props_default_the_deploy_subject_to_the_environment() -> None:
    props = CiIdentitiesProps(**VALID_PROPS)
    assert props.effective_deploy_subject == "environment:uat"
    assert props.publisher_role_name == "berth-uat-chart-publisher"
    assert props.deployer_role_name == "berth-uat-deployer"
