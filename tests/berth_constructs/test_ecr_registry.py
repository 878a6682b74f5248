"""EcrRegistry security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once: `full` (dedicated KMS key, pullers, a refresher role) and `bare`
(a given KMS key, pushers only, no refresher). Each test fails if the construct loses the property.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from berth_constructs.ecr_registry import (
    PULL_ACTIONS,
    PUSH_ACTIONS,
    EcrRegistry,
    EcrRegistryProps,
    RefresherTrust,
)
from berth_constructs.kms import kms_alias_name
from tests.support.constants import EXTERNAL_ISSUER, EXTERNAL_PROVIDER_ARN, KMS_KEY_ARN
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import policy_statements, principals, resources, statement

CI_ROLE = "arn:aws:iam::111111111111:role/ci-image-publisher"
PULLERS = ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:role/cluster-nodes"]
ADMIN_ACTIONS = {
    "ecr:DeleteRepository",
    "ecr:DeleteRepositoryPolicy",
    "ecr:SetRepositoryPolicy",
    "ecr:BatchDeleteImage",
    "ecr:DeleteLifecyclePolicy",
    "ecr:PutLifecyclePolicy",
    "ecr:PutImageTagMutability",
    "ecr:*",
}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    stack = new_stack()
    EcrRegistry(
        stack,
        "full",
        EcrRegistryProps(
            repository_name="berth/s3proxy",
            push_principals=[CI_ROLE],
            pull_principals=PULLERS,
            untagged_image_expiry_days=3,
            tagged_images_to_keep=20,
            refresher=RefresherTrust(
                oidc_provider_arn=EXTERNAL_PROVIDER_ARN, role_name="test-ecr-refresher"
            ),
        ),
    )
    EcrRegistry(
        stack,
        "bare",
        EcrRegistryProps(
            repository_name="berth/ecr-refresher",
            push_principals=[CI_ROLE],
            kms_key_arn=KMS_KEY_ARN,
        ),
    )
    return stack_json(stack)


def _repository(stack: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The repository named `name` and the `${...}` reference other resources use for its name."""
    found = {
        key: repo
        for key, repo in stack["resource"]["aws_ecr_repository"].items()
        if repo["name"] == name
    }
    ((key, repo),) = found.items()
    return f"${{aws_ecr_repository.{key}.name}}", repo


def _attached(stack: dict[str, Any], resource_type: str, name: str) -> dict[str, Any]:
    reference, _ = _repository(stack, name)
    (attached,) = [r for r in resources(stack, resource_type) if r["repository"] == reference]
    return attached


def _repository_policy(stack: dict[str, Any], name: str) -> list[dict[str, Any]]:
    policy = _attached(stack, "aws_ecr_repository_policy", name)
    return policy_statements(stack, policy["policy"])


def _refresher_role(stack: dict[str, Any]) -> dict[str, Any]:
    (role,) = [r for r in resources(stack, "aws_iam_role") if r["name"] == "test-ecr-refresher"]
    return role


def test_tags_are_immutable(stack: dict[str, Any]) -> None:
    for name in ("berth/s3proxy", "berth/ecr-refresher"):
        assert _repository(stack, name)[1]["image_tag_mutability"] == "IMMUTABLE"


def test_images_are_scanned_on_push(stack: dict[str, Any]) -> None:
    _, repo = _repository(stack, "berth/s3proxy")
    assert repo["image_scanning_configuration"] == {"scan_on_push": True}


def test_images_are_encrypted_with_a_rotated_dedicated_kms_key(stack: dict[str, Any]) -> None:
    _, repo = _repository(stack, "berth/s3proxy")
    # The typed struct survives synthesis (a plain dict here would have been dropped).
    (encryption,) = repo["encryption_configuration"]
    assert encryption["encryption_type"] == "KMS"
    assert encryption["kms_key"].startswith("${aws_kms_key.")
    (key,) = resources(stack, "aws_kms_key")
    assert key["enable_key_rotation"] is True


def test_the_dedicated_key_has_an_alias_named_after_the_repository(stack: dict[str, Any]) -> None:
    (alias,) = resources(stack, "aws_kms_alias")
    assert alias["name"] == "alias/ecr/berth/s3proxy"


def test_kms_alias_names_replace_characters_kms_refuses() -> None:
    assert kms_alias_name("ecr/team.a/app:x") == "alias/ecr/team-a/app-x"


def test_a_given_kms_key_is_used_and_no_key_is_created(stack: dict[str, Any]) -> None:
    _, repo = _repository(stack, "berth/ecr-refresher")
    assert repo["encryption_configuration"] == [{"encryption_type": "KMS", "kms_key": KMS_KEY_ARN}]
    assert len(resources(stack, "aws_kms_key")) == 1  # only `full` created one


def test_repositories_are_not_force_deleted_by_default(stack: dict[str, Any]) -> None:
    assert _repository(stack, "berth/s3proxy")[1]["force_delete"] is False


def test_lifecycle_expires_untagged_after_n_days_and_keeps_last_n_tagged(
    stack: dict[str, Any],
) -> None:
    policy = json.loads(_attached(stack, "aws_ecr_lifecycle_policy", "berth/s3proxy")["policy"])
    untagged, tagged = sorted(policy["rules"], key=lambda rule: rule["rulePriority"])
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 3,
    }
    assert tagged["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 20,
    }
    assert untagged["action"] == tagged["action"] == {"type": "expire"}


def test_pullers_and_pushers_may_pull_only(stack: dict[str, Any]) -> None:
    pull = statement(_repository_policy(stack, "berth/s3proxy"), "PullImages")
    assert pull["effect"] == "Allow"
    assert sorted(pull["actions"]) == sorted(PULL_ACTIONS)
    assert principals(pull) == [*PULLERS, CI_ROLE]


def test_only_the_ci_principal_may_push(stack: dict[str, Any]) -> None:
    statements = _repository_policy(stack, "berth/s3proxy")
    push = statement(statements, "PushImages")
    assert principals(push) == [CI_ROLE]
    assert set(PUSH_ACTIONS) <= set(push["actions"])
    writers = [s for s in statements if set(PUSH_ACTIONS) & set(s["actions"])]
    assert writers == [push]


def test_no_statement_names_everyone_or_grants_admin_actions(stack: dict[str, Any]) -> None:
    for name in ("berth/s3proxy", "berth/ecr-refresher"):
        for stmt in _repository_policy(stack, name):
            assert "*" not in principals(stmt), stmt["sid"]
            assert not ADMIN_ACTIONS & set(stmt["actions"]), stmt["sid"]
            assert all(not action.endswith("*") for action in stmt["actions"]), stmt["sid"]


def test_refresher_role_is_trusted_by_one_service_account_of_the_issuer(
    stack: dict[str, Any],
) -> None:
    (trust,) = policy_statements(stack, _refresher_role(stack)["assume_role_policy"])
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert principals(trust, "Federated") == [EXTERNAL_PROVIDER_ARN]
    assert sorted(trust["condition"], key=lambda c: c["variable"]) == [
        {
            "test": "StringEquals",
            "variable": f"{EXTERNAL_ISSUER}:aud",
            "values": ["sts.amazonaws.com"],
        },
        {
            "test": "StringEquals",
            "variable": f"{EXTERNAL_ISSUER}:sub",
            "values": ["system:serviceaccount:ecr-credential-refresher:ecr-credential-refresher"],
        },
    ]


def test_refresher_gets_a_token_and_pulls_only_this_repository(stack: dict[str, Any]) -> None:
    (policy,) = resources(stack, "aws_iam_role_policy")
    statements = policy_statements(stack, policy["policy"])
    assert {s["sid"] for s in statements} == {"GetAuthorizationToken", "PullImages"}
    token = statement(statements, "GetAuthorizationToken")
    # The only wildcard resource: AWS cannot scope this action.
    assert token["actions"] == ["ecr:GetAuthorizationToken"] and token["resources"] == ["*"]
    pull = statement(statements, "PullImages")
    assert sorted(pull["actions"]) == sorted(PULL_ACTIONS)
    (repository_key,) = [
        key
        for key, repo in stack["resource"]["aws_ecr_repository"].items()
        if repo["name"] == "berth/s3proxy"
    ]
    assert pull["resources"] == [f"${{aws_ecr_repository.{repository_key}.arn}}"]


def test_no_iam_user_or_access_key_is_created(stack: dict[str, Any]) -> None:
    for resource_type in ("aws_iam_user", "aws_iam_access_key", "aws_iam_user_policy"):
        assert resources(stack, resource_type) == []


def test_without_refresher_no_role_is_created(stack: dict[str, Any]) -> None:
    assert [r["name"] for r in resources(stack, "aws_iam_role")] == ["test-ecr-refresher"]


VALID_PROPS: dict[str, Any] = {"repository_name": "berth/s3proxy", "push_principals": [CI_ROLE]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repository_name": "Berth/S3proxy"}, "repository_name: 'Berth/S3proxy' is not"),
        ({"repository_name": "berth//x"}, "repository_name: "),
        ({"push_principals": []}, "push_principals: at least one pusher"),
        ({"push_principals": ["*"]}, r"push_principals: '\*' is not an IAM role"),
        ({"pull_principals": ["*"]}, r"pull_principals: '\*' is not an IAM role"),
        ({"pull_principals": ["arn:aws:iam::111111111111:user/bob"]}, "pull_principals: "),
        ({"untagged_image_expiry_days": 0}, "untagged_image_expiry_days: must be between"),
        ({"tagged_images_to_keep": 0}, "tagged_images_to_keep: must be between"),
    ],
)
def test_props_refuse_insecure_or_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EcrRegistryProps(**{**VALID_PROPS, **changes})


def test_refresher_trust_refuses_a_non_oidc_provider() -> None:
    with pytest.raises(ValueError, match="oidc_provider_arn: "):
        RefresherTrust(oidc_provider_arn="arn:aws:iam::111111111111:root", role_name="refresher")
