"""IrsaServiceAccount security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once: `granted` (creates its ServiceAccount, two grants) and `bare`
(the chart creates the account; no grants). Each test fails if the construct loosens the property.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.policies import Statement
from berth_core.naming import oidc_provider_arn
from tests.support.constants import ACCOUNT, EKS_ISSUER, EKS_PROVIDER_ARN
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import policy_statements, principals, resources, statement

BUCKET_ARN = "arn:aws:s3:::charts"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    stack = new_stack(kubernetes=True)
    granted = IrsaServiceAccount(
        stack,
        "granted",
        IrsaServiceAccountProps(
            namespace="observability",
            name="otel-agent",
            role_name="test-otel-agent",
            oidc_provider_arn=EKS_PROVIDER_ARN,
            service_account_annotations={"example.com/team": "observability"},
        ),
    )
    granted.grant(Statement(sid="ListCharts", actions=["s3:ListBucket"], resources=[BUCKET_ARN]))
    granted.grant(
        Statement(sid="ReadCharts", actions=["s3:GetObject"], resources=[f"{BUCKET_ARN}/*"])
    )
    IrsaServiceAccount(
        stack,
        "bare",
        IrsaServiceAccountProps(
            namespace="proxy",
            name="s3proxy",
            role_name="test-s3proxy",
            oidc_provider_arn=EKS_PROVIDER_ARN,
            create_service_account=False,
        ),
    )
    return stack_json(stack)


def _role(stack: dict[str, Any], name: str) -> dict[str, Any]:
    (role,) = [r for r in resources(stack, "aws_iam_role") if r["name"] == name]
    return role


def _trust(stack: dict[str, Any], role_name: str) -> dict[str, Any]:
    (trust,) = policy_statements(stack, _role(stack, role_name)["assume_role_policy"])
    return trust


@pytest.mark.parametrize(
    ("role_name", "subject"),
    [
        ("test-otel-agent", "system:serviceaccount:observability:otel-agent"),
        ("test-s3proxy", "system:serviceaccount:proxy:s3proxy"),
    ],
)
def test_trust_requires_exact_sub_and_aud(
    stack: dict[str, Any], role_name: str, subject: str
) -> None:
    trust = _trust(stack, role_name)
    assert trust["effect"] == "Allow"
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert sorted(trust["condition"], key=lambda c: c["variable"]) == [
        {"test": "StringEquals", "variable": f"{EKS_ISSUER}:aud", "values": ["sts.amazonaws.com"]},
        {"test": "StringEquals", "variable": f"{EKS_ISSUER}:sub", "values": [subject]},
    ]


def test_trust_principal_is_only_the_clusters_oidc_provider(stack: dict[str, Any]) -> None:
    trust = _trust(stack, "test-otel-agent")
    assert trust["principals"] == [{"type": "Federated", "identifiers": [EKS_PROVIDER_ARN]}]


def test_no_trust_condition_uses_wildcards(stack: dict[str, Any]) -> None:
    for role_name in ("test-otel-agent", "test-s3proxy"):
        for condition in _trust(stack, role_name)["condition"]:
            assert condition["test"] == "StringEquals"
            assert not any("*" in value or "?" in value for value in condition["values"])


def test_service_account_matches_the_trust_and_carries_the_role_arn(stack: dict[str, Any]) -> None:
    (account,) = resources(stack, "kubernetes_service_account_v1")
    metadata = account["metadata"]
    assert (metadata["namespace"], metadata["name"]) == ("observability", "otel-agent")
    assert metadata["annotations"]["eks.amazonaws.com/role-arn"].startswith("${aws_iam_role.")
    assert metadata["annotations"]["example.com/team"] == "observability"
    # IRSA projects its own token; the Kubernetes API token stays unmounted unless asked for.
    assert account["automount_service_account_token"] is False


def test_grants_land_in_one_inline_policy_on_the_granted_role(stack: dict[str, Any]) -> None:
    (policy,) = resources(stack, "aws_iam_role_policy")
    assert policy["role"].startswith("${aws_iam_role.granted_role_")
    statements = policy_statements(stack, policy["policy"])
    assert [s["sid"] for s in statements] == ["ListCharts", "ReadCharts"]
    assert statement(statements, "ListCharts")["resources"] == [BUCKET_ARN]
    assert statement(statements, "ReadCharts")["resources"] == [f"{BUCKET_ARN}/*"]
    assert all(principals(s) == [] for s in statements)


def test_a_role_without_grants_has_no_policy(stack: dict[str, Any]) -> None:
    policies = resources(stack, "aws_iam_role_policy")
    assert not any(p["role"].startswith("${aws_iam_role.bare_role_") for p in policies)
    documents = stack["data"]["aws_iam_policy_document"]
    assert len(documents) == 3  # two trust documents + the one grants document


def test_without_create_service_account_no_account_is_made(stack: dict[str, Any]) -> None:
    names = [a["metadata"]["name"] for a in resources(stack, "kubernetes_service_account_v1")]
    assert "s3proxy" not in names


def test_oidc_provider_arn_is_derived_from_the_issuer_url() -> None:
    assert oidc_provider_arn(ACCOUNT, f"https://{EKS_ISSUER}/") == EKS_PROVIDER_ARN


VALID_PROPS: dict[str, Any] = {
    "namespace": "observability",
    "name": "otel-agent",
    "role_name": "otel-agent",
    "oidc_provider_arn": EKS_PROVIDER_ARN,
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"namespace": "Observability"}, "namespace: 'Observability' is not"),
        ({"namespace": "*"}, r"namespace: '\*' is not"),
        ({"name": "otel_agent"}, "name: 'otel_agent' is not"),
        ({"role_name": "r" * 65}, "role_name: .* is not an IAM role name"),
        ({"oidc_provider_arn": "arn:aws:iam::111111111111:role/x"}, "oidc_provider_arn: .* is not"),
        ({"oidc_provider_arn": "arn:aws:iam::111111111111:oidc-provider/*"}, "oidc_provider_arn"),
        (
            {
                "service_account_annotations": {
                    "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"
                }
            },
            "service_account_annotations: eks.amazonaws.com/role-arn is set by the construct",
        ),
    ],
)
def test_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IrsaServiceAccountProps(**{**VALID_PROPS, **changes})


def test_grant_refuses_duplicate_sids_and_principals() -> None:
    stack = new_stack("grants", region=None)
    irsa = IrsaServiceAccount(
        stack, "irsa", IrsaServiceAccountProps(**VALID_PROPS, create_service_account=False)
    )
    irsa.grant(Statement(sid="Read", actions=["s3:GetObject"], resources=[f"{BUCKET_ARN}/*"]))
    with pytest.raises(ValueError, match="grant: a statement with sid 'Read' was already granted"):
        irsa.grant(Statement(sid="Read", actions=["s3:ListBucket"], resources=[BUCKET_ARN]))
    with pytest.raises(ValueError, match="names principals"):
        irsa.grant(Statement(sid="X", actions=["s3:GetObject"], principals={"AWS": ["*"]}))
    with pytest.raises(ValueError, match="has no actions"):
        irsa.grant(Statement(sid="Y", actions=[]))
