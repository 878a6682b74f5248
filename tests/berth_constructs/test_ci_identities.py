"""CiIdentities security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once, holds three instances:
- `strict`: creates the OIDC provider, literal ARNs, an image publisher, defaults;
- `flagged`: an existing provider (looked up), bucket/key/repository ARNs as tokens (as the
  stack passes them), a wildcard publisher subject (flag set) and deploy session tags;
- `bare`: no deploy role (so no deployer) and no image publisher.
Each test fails if the construct loosens the property it names.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth_constructs.ci_identities import IMAGE_PUSH_ACTIONS, CiIdentities, CiIdentitiesProps
from tests.support.constants import KMS_KEY_ARN, OTHER_ACCOUNT, oidc_provider_arn, role_arn
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import data_sources, policy_statements, principals, resources, statement

ISSUER = "token.actions.githubusercontent.com"
EXISTING_PROVIDER_ARN = oidc_provider_arn(ISSUER, OTHER_ACCOUNT)
BUCKET_ARN = "arn:aws:s3:::berth-uat-helm-charts"
REPOSITORY_ARNS = [
    "arn:aws:ecr:eu-west-1:111111111111:repository/berth-uat/s3proxy",
    "arn:aws:ecr:eu-west-1:111111111111:repository/berth-uat/appconfig-fetch",
]
DEPLOY_ROLE_ARN = role_arn("berth-uat-deploy")
PROD_DEPLOY_ROLE_ARN = role_arn("berth-prod-deploy", OTHER_ACCOUNT)

VALID_PROPS: dict[str, Any] = {
    "repository": "acme/berth",
    "environment_name": "uat",
    "name_prefix": "berth-uat",
    "region": "eu-west-1",
    "deploy_role_arn": DEPLOY_ROLE_ARN,
    "create_oidc_provider": True,
}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    from cdktf_cdktf_provider_aws.ecr_repository import EcrRepository
    from cdktf_cdktf_provider_aws.kms_key import KmsKey
    from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

    stack = new_stack()
    strict = CiIdentities(
        stack, "strict", CiIdentitiesProps(**VALID_PROPS, create_image_publisher=True)
    )
    strict.grant_chart_publish(BUCKET_ARN, KMS_KEY_ARN)
    strict.grant_image_push(REPOSITORY_ARNS)
    charts = S3Bucket(stack, "charts", bucket="berth-prod-helm-charts")
    key = KmsKey(stack, "charts-key", description="charts")
    repository = EcrRepository(stack, "repository", name="berth-prod/s3proxy")
    flagged = CiIdentities(
        stack,
        "flagged",
        CiIdentitiesProps(
            repository="acme/berth",
            environment_name="prod",
            name_prefix="berth-prod",
            region="eu-west-1",
            deploy_role_arn=PROD_DEPLOY_ROLE_ARN,
            create_image_publisher=True,
            oidc_provider_arn=EXISTING_PROVIDER_ARN,
            publisher_subject="ref:refs/heads/release/*",
            allow_wildcard_subjects=True,
            enable_deploy_session_tags=True,
        ),
    )
    flagged.grant_chart_publish(charts.arn, key.arn)
    flagged.grant_image_push([repository.arn])
    bare = CiIdentities(
        stack,
        "bare",
        CiIdentitiesProps(
            repository="acme/berth",
            environment_name="local",
            name_prefix="berth-local",
            region="eu-west-1",
            create_oidc_provider=True,
        ),
    )
    bare.grant_chart_publish(BUCKET_ARN, KMS_KEY_ARN)
    return stack_json(stack)


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
        ("berth-uat-image-publisher", "repo:acme/berth:ref:refs/heads/main"),
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
    "role_name",
    [
        "berth-uat-chart-publisher",
        "berth-uat-image-publisher",
        "berth-uat-deployer",
        "berth-prod-deployer",
    ],
)
def test_trust_checks_the_sts_audience(stack: dict[str, Any], role_name: str) -> None:
    conditions = _conditions(_trust(stack, role_name))
    assert conditions[f"{ISSUER}:aud"] == ("StringEquals", ["sts.amazonaws.com"])
    assert set(conditions) == {f"{ISSUER}:sub", f"{ISSUER}:aud"}


@pytest.mark.parametrize(
    "role_name", ["berth-uat-chart-publisher", "berth-uat-image-publisher", "berth-uat-deployer"]
)
def test_trust_federates_only_the_created_oidc_provider_with_web_identity(
    stack: dict[str, Any], role_name: str
) -> None:
    trust = _trust(stack, role_name)
    assert trust["effect"] == "Allow"
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert principals(trust, "AWS") == []
    (provider_key,) = [
        key for key in stack["resource"]["aws_iam_openid_connect_provider"] if "strict" in key
    ]
    assert principals(trust, "Federated") == [
        f"${{aws_iam_openid_connect_provider.{provider_key}.arn}}"
    ]


def test_an_existing_provider_is_looked_up_so_planning_stops_without_it(
    stack: dict[str, Any],
) -> None:
    (key, lookup), *others = data_sources(stack, "aws_iam_openid_connect_provider").items()
    assert others == []
    assert lookup["arn"] == EXISTING_PROVIDER_ARN
    for role_name in ("berth-prod-chart-publisher", "berth-prod-deployer"):
        assert principals(_trust(stack, role_name), "Federated") == [
            f"${{data.aws_iam_openid_connect_provider.{key}.arn}}"
        ]


def test_oidc_provider_is_github_with_the_sts_audience(stack: dict[str, Any]) -> None:
    providers = resources(stack, "aws_iam_openid_connect_provider")
    assert len(providers) == 2  # strict and bare create one each; flagged looks one up
    for provider in providers:
        assert provider["url"] == "https://token.actions.githubusercontent.com"
        assert provider["client_id_list"] == ["sts.amazonaws.com"]
        # AWS validates GitHub's certificate against its trusted CAs: no thumbprint to rot.
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
    assert key["resources"] == [KMS_KEY_ARN]
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


def test_deployer_does_nothing_but_assume_the_deploy_role(stack: dict[str, Any]) -> None:
    # State access goes through the deploy role too (the backend's assume_role), so the
    # deployer itself holds no S3 or KMS permission.
    for role_name in ("berth-uat-deployer", "berth-prod-deployer"):
        assert [s["sid"] for s in _permissions(stack, role_name)] == ["AssumeDeployRole"]


def test_image_publisher_pushes_only_to_the_given_repositories(stack: dict[str, Any]) -> None:
    statements = _permissions(stack, "berth-uat-image-publisher")
    assert [s["sid"] for s in statements] == ["LogInToTheRegistry", "PushImages"]
    push = statement(statements, "PushImages")
    assert push["actions"] == list(IMAGE_PUSH_ACTIONS)
    assert push["resources"] == REPOSITORY_ARNS
    for admin in ("ecr:DeleteRepository", "ecr:SetRepositoryPolicy", "ecr:BatchDeleteImage"):
        assert admin not in push["actions"]


def test_image_publisher_logs_in_with_the_one_action_aws_cannot_scope(
    stack: dict[str, Any],
) -> None:
    login = statement(_permissions(stack, "berth-uat-image-publisher"), "LogInToTheRegistry")
    assert login["actions"] == ["ecr:GetAuthorizationToken"]
    assert login["resources"] == ["*"]


def test_without_a_deploy_role_or_images_there_is_no_deployer_or_image_publisher(
    stack: dict[str, Any],
) -> None:
    names = {r["name"] for r in resources(stack, "aws_iam_role")}
    assert "berth-local-chart-publisher" in names
    assert "berth-local-deployer" not in names
    assert "berth-local-image-publisher" not in names


def test_grants_are_given_once_and_only_to_roles_that_exist() -> None:
    stack = new_stack("grants", region=None)
    identities = CiIdentities(stack, "ci", CiIdentitiesProps(**VALID_PROPS))
    with pytest.raises(ValueError, match="grant_image_push: created without"):
        identities.grant_image_push(REPOSITORY_ARNS)
    identities.grant_chart_publish(BUCKET_ARN, KMS_KEY_ARN)
    with pytest.raises(ValueError, match="publisher: the role already has its policy"):
        identities.grant_chart_publish(BUCKET_ARN, KMS_KEY_ARN)
    with pytest.raises(ValueError, match=r"bucket_arn: 'arn:aws:s3:::\*' is not an S3 bucket ARN"):
        CiIdentities(
            stack, "other", CiIdentitiesProps(**{**VALID_PROPS, "name_prefix": "x"})
        ).grant_chart_publish("arn:aws:s3:::*", KMS_KEY_ARN)


@pytest.mark.parametrize(
    "role_name",
    [
        "berth-uat-chart-publisher",
        "berth-uat-deployer",
        "berth-prod-chart-publisher",
        "berth-prod-deployer",
        "berth-prod-image-publisher",
    ],
)
def test_no_wildcard_resources_or_actions(stack: dict[str, Any], role_name: str) -> None:
    for stmt in _permissions(stack, role_name):
        if stmt["sid"] == "LogInToTheRegistry":
            continue  # the registry login, asserted above
        assert stmt["effect"] == "Allow"
        assert all("*" not in action for action in stmt["actions"]), stmt["sid"]
        assert "*" not in stmt["resources"], stmt["sid"]
        assert all(not r.endswith(":*") for r in stmt["resources"]), stmt["sid"]


def test_only_the_roles_and_their_policies_are_created(stack: dict[str, Any]) -> None:
    names = sorted(r["name"] for r in resources(stack, "aws_iam_role"))
    assert names == [
        "berth-local-chart-publisher",
        "berth-prod-chart-publisher",
        "berth-prod-deployer",
        "berth-prod-image-publisher",
        "berth-uat-chart-publisher",
        "berth-uat-deployer",
        "berth-uat-image-publisher",
    ]
    assert len(resources(stack, "aws_iam_role_policy")) == 7
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
            {"deploy_role_arn": "arn:aws:iam::111111111111:role/*"},
            "deploy_role_arn: .* is not an IAM role",
        ),
        (
            {"deploy_role_arn": None, "deploy_subject": "environment:uat"},
            "deploy_subject: there is no deployer without a deploy_role_arn",
        ),
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
