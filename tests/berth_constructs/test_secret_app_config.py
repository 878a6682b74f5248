"""SecretAppConfig security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once: `coralogix` (ephemeral variable, full AppConfig deployment, read by
an IRSA workload) and `oob` (value put out of band, no AppConfig environment: the emulator case).
"""

from __future__ import annotations

import json
from typing import Any

import cdktf
import pytest

from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.secret_app_config import SecretAppConfig, SecretAppConfigProps
from berth_core.naming import secret_app_config_names
from tests.support.constants import ACCOUNT, EKS_PROVIDER_ARN, REGION
from tests.support.stacks import new_stack
from tests.support.tfjson import one_resource, policy_statements, principals, resources, statement


@pytest.fixture(scope="module")
def synthesized_text() -> str:
    """The stack's JSON as text, as `Testing.synth` writes it."""
    stack = new_stack(kubernetes=True)
    common = {
        "name_prefix": "berth-uat",
        "environment_name": "uat",
        "account_id": ACCOUNT,
        "region": REGION,
    }
    coralogix = SecretAppConfig(
        stack,
        "coralogix",
        SecretAppConfigProps(
            name="coralogix-private-key", value_source="ephemeral_variable", **common
        ),
    )
    SecretAppConfig(
        stack,
        "oob",
        SecretAppConfigProps(
            name="other-key",
            value_source="out_of_band",
            **common,
        ),
    )
    workload = IrsaServiceAccount(
        stack,
        "otel",
        IrsaServiceAccountProps(
            namespace="observability",
            name="otel-agent",
            role_name="berth-uat-otel-agent",
            oidc_provider_arn=EKS_PROVIDER_ARN,
        ),
    )
    coralogix.grant_read(workload)
    return cdktf.Testing.synth(stack)


@pytest.fixture(scope="module")
def stack(synthesized_text: str) -> dict[str, Any]:
    return dict(json.loads(synthesized_text))


def _named(stack: dict[str, Any], resource_type: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources(stack, resource_type) if r.get("name") == name]
    return found


def _role_policy(stack: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    (policy,) = [
        p for p in resources(stack, "aws_iam_role_policy") if p["role"].startswith(role_prefix)
    ]
    return policy_statements(stack, policy["policy"])


def test_secret_is_encrypted_with_a_rotated_customer_managed_key(stack: dict[str, Any]) -> None:
    secret = _named(stack, "aws_secretsmanager_secret", "berth-uat/coralogix-private-key")
    assert secret["kms_key_id"].startswith("${aws_kms_key.coralogix_kms-key_")
    assert secret["recovery_window_in_days"] == 30
    keys = resources(stack, "aws_kms_key")
    assert len(keys) == 2 and all(key["enable_key_rotation"] is True for key in keys)


def test_no_plain_secret_string_anywhere(synthesized_text: str) -> None:
    assert '"secret_string"' not in synthesized_text
    assert '"secret_binary"' not in synthesized_text


def test_value_is_written_only_from_an_ephemeral_sensitive_variable(stack: dict[str, Any]) -> None:
    version = one_resource(stack, "aws_secretsmanager_secret_version")
    assert version["secret_string_wo"] == "${var.coralogix_private_key_value}"
    assert version["secret_string_wo_version"] == "${var.coralogix_private_key_value_version}"
    variable = stack["variable"]["coralogix_private_key_value"]
    assert variable["ephemeral"] is True
    assert variable["sensitive"] is True
    assert "default" not in variable
    assert stack["variable"]["coralogix_private_key_value_version"]["default"] == 1


def test_out_of_band_secret_has_no_version_and_no_variable(stack: dict[str, Any]) -> None:
    (version,) = resources(stack, "aws_secretsmanager_secret_version")
    assert version["secret_id"].startswith("${aws_secretsmanager_secret.coralogix_secret_")
    assert not any(name.startswith("other_key") for name in stack["variable"])


def test_profile_reads_the_secret_by_name_as_freeform(stack: dict[str, Any]) -> None:
    profile = _named(stack, "aws_appconfig_configuration_profile", "coralogix-private-key")
    assert profile["location_uri"] == "secretsmanager://berth-uat/coralogix-private-key"
    assert profile["type"] == "AWS.Freeform"
    assert profile["retrieval_role_arn"].startswith("${aws_iam_role.coralogix_retrieval-role_")


def test_retrieval_role_is_trusted_by_appconfig_in_the_documented_form(
    stack: dict[str, Any],
) -> None:
    # The trust AppConfig writes itself: the service principal and no condition. AppConfig is
    # not documented to send aws:SourceAccount, and a condition on a key it does not send
    # would stop it from reading the secret.
    role = _named(stack, "aws_iam_role", "berth-uat-coralogix-private-key-appconfig")
    (trust,) = policy_statements(stack, role["assume_role_policy"])
    assert trust["effect"] == "Allow"
    assert trust["actions"] == ["sts:AssumeRole"]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["appconfig.amazonaws.com"]}]
    assert "condition" not in trust


def test_retrieval_role_may_only_read_this_secret_and_decrypt_via_secrets_manager(
    stack: dict[str, Any],
) -> None:
    statements = _role_policy(stack, "${aws_iam_role.coralogix_retrieval-role_")
    assert sorted(s["sid"] for s in statements) == ["DecryptThroughSecretsManager", "ReadTheSecret"]
    read = statement(statements, "ReadTheSecret")
    assert read["actions"] == ["secretsmanager:GetSecretValue"]
    assert len(read["resources"]) == 1
    assert read["resources"][0].startswith("${aws_secretsmanager_secret.coralogix_secret_")
    decrypt = statement(statements, "DecryptThroughSecretsManager")
    assert decrypt["actions"] == ["kms:Decrypt"]
    assert len(decrypt["resources"]) == 1
    assert decrypt["resources"][0].startswith("${aws_kms_key.coralogix_kms-key_")
    assert decrypt["condition"] == [
        {
            "test": "StringEquals",
            "variable": "kms:ViaService",
            "values": [f"secretsmanager.{REGION}.amazonaws.com"],
        }
    ]


def test_workload_may_only_start_sessions_and_get_latest_on_this_profile(
    stack: dict[str, Any],
) -> None:
    (grant,) = _role_policy(stack, "${aws_iam_role.otel_role_")
    assert grant["actions"] == [
        "appconfig:StartConfigurationSession",
        "appconfig:GetLatestConfiguration",
    ]
    (arn,) = grant["resources"]
    assert arn.startswith(
        f"arn:aws:appconfig:{REGION}:{ACCOUNT}:application/${{aws_appconfig_application.coralogix_"
    )
    assert "/environment/${aws_appconfig_environment.coralogix_environment_" in arn
    assert arn.endswith(".configuration_profile_id}")
    assert "*" not in arn
    assert principals(grant) == []


def test_deprecated_get_configuration_is_granted_nowhere(synthesized_text: str) -> None:
    assert 'appconfig:GetConfiguration"' not in synthesized_text
    assert "appconfig:*" not in synthesized_text


def test_no_policy_uses_resource_star(stack: dict[str, Any]) -> None:
    for document in stack["data"]["aws_iam_policy_document"].values():
        for stmt in document["statement"]:
            assert "*" not in stmt.get("resources", []), stmt["sid"]


def test_deployment_uses_the_secret_version_and_the_customer_managed_key(
    stack: dict[str, Any],
) -> None:
    deployment = one_resource(stack, "aws_appconfig_deployment")
    assert deployment["configuration_version"].startswith("${aws_secretsmanager_secret_version.")
    assert deployment["configuration_version"].endswith(".version_id}")
    assert deployment["kms_key_identifier"].startswith("${aws_kms_key.coralogix_kms-key_")
    strategy = one_resource(stack, "aws_appconfig_deployment_strategy", "coralogix")
    assert deployment["deployment_strategy_id"].startswith("${aws_appconfig_deployment_strategy.")
    assert strategy["name"] == "berth-uat-coralogix-private-key-all-at-once"


def test_out_of_band_values_get_an_environment_and_strategy_but_no_terraform_deployment(
    stack: dict[str, Any],
) -> None:
    # `berth secret put` deploys `oob`'s versions; Terraform deploys only `coralogix`'s.
    assert len(resources(stack, "aws_appconfig_environment")) == 2
    assert len(resources(stack, "aws_appconfig_deployment_strategy")) == 2
    assert len(resources(stack, "aws_appconfig_deployment")) == 1
    assert len(resources(stack, "aws_appconfig_application")) == 2
    _named(stack, "aws_appconfig_configuration_profile", "other-key")


def test_names_come_from_berth_naming(stack: dict[str, Any]) -> None:
    names = secret_app_config_names("berth-uat", "uat", "other-key")
    _named(stack, "aws_secretsmanager_secret", names.secret)
    _named(stack, "aws_appconfig_application", names.application)
    _named(stack, "aws_iam_role", names.retrieval_role)


VALID_PROPS: dict[str, Any] = {
    "name": "coralogix-private-key",
    "name_prefix": "berth-uat",
    "environment_name": "uat",
    "account_id": ACCOUNT,
    "region": REGION,
    "value_source": "out_of_band",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Coralogix_Key"}, "name: 'Coralogix_Key' must be lowercase"),
        ({"name_prefix": "p" * 40, "name": "k" * 30}, "name: .* longer than an IAM role name"),
        ({"account_id": "12345"}, "account_id: '12345' is not a 12-digit"),
        ({"region": "europe"}, "region: 'europe' is not an AWS region"),
        ({"value_source": "secret_string"}, "value_source: 'secret_string' must be"),
        ({"recovery_window_in_days": 3}, "recovery_window_in_days: must be between 7 and 30"),
    ],
)
def test_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SecretAppConfigProps(**{**VALID_PROPS, **changes})
