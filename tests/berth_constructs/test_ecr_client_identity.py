"""EcrClientIdentity: a keyless IAM user or a web-identity role, with registry rights only.

One stack, synthesized once: `user` (an IAM user: no access key, one inline policy) and `role`
(web identity through a cluster's OIDC provider, `sub`/`aud` pinned). Each test fails if the
construct loses the property.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth_constructs.ecr_client_identity import EcrClientIdentity, EcrClientIdentityProps
from berth_constructs.ecr_registry import PULL_ACTIONS, PUSH_ACTIONS, RefresherTrust
from tests.support.constants import EDGE_ACCOUNT, EXTERNAL_ISSUER, oidc_provider_arn
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import policy_statements, resources, statement

PROVIDER_ARN = oidc_provider_arn(EXTERNAL_ISSUER, EDGE_ACCOUNT)
PULL = ["arn:aws:ecr:eu-central-1:333333333333:repository/berth-edge/s3proxy"]
PUSH = ["arn:aws:ecr:eu-central-1:333333333333:repository/berth-edge/web"]


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    stack = new_stack(region="eu-central-1")
    user = EcrClientIdentity(stack, "user", EcrClientIdentityProps(name="berth-edge-ecr-builder"))
    user.grant_registry_access(pull_repository_arns=PULL, push_repository_arns=PUSH)
    trust = RefresherTrust(
        oidc_provider_arn=PROVIDER_ARN, role_name="berth-edge-ecr-refresher", namespace="ecr"
    )
    role = EcrClientIdentity(
        stack, "role", EcrClientIdentityProps(name="berth-edge-ecr-refresher", trust=trust)
    )
    role.grant_registry_access(pull_repository_arns=PULL)
    assert user.role_arn is None and user.user_name is not None
    assert role.user_name is None and role.role_arn == role.principal_arn
    return stack_json(stack)


def test_the_user_has_no_access_key_and_keeps_keys_made_elsewhere(stack: dict[str, Any]) -> None:
    (user,) = resources(stack, "aws_iam_user")
    assert user["name"] == "berth-edge-ecr-builder"
    assert user["force_destroy"] is False
    assert resources(stack, "aws_iam_access_key") == []


def test_the_user_may_log_in_pull_and_push_only_where_granted(stack: dict[str, Any]) -> None:
    (policy,) = resources(stack, "aws_iam_user_policy")
    statements = policy_statements(stack, policy["policy"])
    assert statement(statements, "GetAuthorizationToken") == {
        "sid": "GetAuthorizationToken",
        "effect": "Allow",
        "actions": ["ecr:GetAuthorizationToken"],
        "resources": ["*"],
    }
    pull = statement(statements, "PullImages")
    assert pull["actions"] == list(PULL_ACTIONS)
    assert pull["resources"] == PULL + PUSH  # a pusher pulls what it pushes
    push = statement(statements, "PushImages")
    assert push["actions"] == list(PUSH_ACTIONS)
    assert push["resources"] == PUSH


def test_the_role_trusts_one_service_account_and_may_only_pull(stack: dict[str, Any]) -> None:
    (role,) = resources(stack, "aws_iam_role")
    (trust,) = policy_statements(stack, role["assume_role_policy"])
    assert {c["variable"]: c["values"] for c in trust["condition"]} == {
        f"{EXTERNAL_ISSUER}:sub": ["system:serviceaccount:ecr:ecr-credential-refresher"],
        f"{EXTERNAL_ISSUER}:aud": ["sts.amazonaws.com"],
    }
    (policy,) = resources(stack, "aws_iam_role_policy")
    statements = policy_statements(stack, policy["policy"])
    assert [s["sid"] for s in statements] == ["GetAuthorizationToken", "PullImages"]
    assert statement(statements, "PullImages")["resources"] == PULL


def test_registry_access_is_granted_once_and_names_a_repository() -> None:
    stack = new_stack("once", region="eu-central-1")
    identity = EcrClientIdentity(stack, "user", EcrClientIdentityProps(name="x"))
    with pytest.raises(ValueError, match="pull_repository_arns: name at least one"):
        identity.grant_registry_access(pull_repository_arns=[])
    identity.grant_registry_access(pull_repository_arns=PULL)
    with pytest.raises(ValueError, match="grant_registry_access: already granted"):
        identity.grant_registry_access(pull_repository_arns=PULL)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "has space"}, "name: 'has space' is not an IAM name"),
        (
            {
                "trust": RefresherTrust(oidc_provider_arn=PROVIDER_ARN, role_name="other"),
            },
            "trust: its role_name 'other' is not this identity's 'x'",
        ),
        (
            {
                "trust": RefresherTrust(oidc_provider_arn=PROVIDER_ARN, role_name="x"),
                "allow_force_destroy": True,
            },
            "allow_force_destroy: only an IAM user",
        ),
    ],
)
def test_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EcrClientIdentityProps(**{"name": "x", **changes})
