"""Real Terraform (aws provider 5.100.0 from the offline mirror) applies AppConfig's whole chain to
the emulator: application, KMS key, secret and version, secretsmanager:// profile with its
retrieval role, environment, deployment strategy and deployment; a second plan finds no drift;
destroy removes it all."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import ClientFactory

from berth.local import MotoServer, emulator_terraform_env
from berth.terraform import AWS_PROVIDER_VERSION, run_terraform
from tests.support.constants import MOTO_ACCOUNT, REGION

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-emulator-terraform")]

TRUST_APPCONFIG = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "appconfig.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def configuration(endpoint: str) -> dict[str, Any]:
    """The Terraform JSON: what `SecretAppConfig` creates, in its smallest form."""
    return {
        "terraform": {
            "required_providers": {
                "aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION}
            }
        },
        "provider": {
            "aws": [
                {
                    "region": REGION,
                    "endpoints": [
                        {s: endpoint for s in ("appconfig", "iam", "kms", "secretsmanager", "sts")}
                    ],
                    "skip_credentials_validation": True,
                    # The provider builds AppConfig ARNs (for tags) from the account it asks
                    # sts:GetCallerIdentity for; skipping that leaves the account out of them.
                    "skip_requesting_account_id": False,
                    "skip_metadata_api_check": "true",
                    "default_tags": [{"tags": {"project": "berth"}}],
                }
            ]
        },
        "resource": {
            "aws_kms_key": {"key": {"description": "emulator test", "deletion_window_in_days": 7}},
            "aws_secretsmanager_secret": {
                "secret": {
                    "name": "berth-emulator/demo",
                    "kms_key_id": "${aws_kms_key.key.arn}",
                    "recovery_window_in_days": 0,
                }
            },
            "aws_secretsmanager_secret_version": {
                "secret": {
                    "secret_id": "${aws_secretsmanager_secret.secret.id}",
                    "secret_string": "not-a-real-secret",
                }
            },
            "aws_iam_role": {
                "retrieval": {
                    "name": "berth-emulator-retrieval",
                    "assume_role_policy": json.dumps(TRUST_APPCONFIG),
                }
            },
            "aws_appconfig_application": {"app": {"name": "berth-emulator-demo"}},
            "aws_appconfig_configuration_profile": {
                "profile": {
                    "application_id": "${aws_appconfig_application.app.id}",
                    "name": "demo",
                    "location_uri": "secretsmanager://${aws_secretsmanager_secret.secret.name}",
                    "retrieval_role_arn": "${aws_iam_role.retrieval.arn}",
                    "type": "AWS.Freeform",
                }
            },
            "aws_appconfig_environment": {
                "env": {
                    "application_id": "${aws_appconfig_application.app.id}",
                    "name": "uat",
                    "description": "rehearsal",
                    "tags": {"env": "uat"},
                }
            },
            "aws_appconfig_deployment_strategy": {
                "all_at_once": {
                    "name": "berth-emulator-all-at-once",
                    "deployment_duration_in_minutes": 0,
                    "final_bake_time_in_minutes": 0,
                    "growth_factor": 100,
                    "growth_type": "LINEAR",
                    "replicate_to": "NONE",
                    "tags": {"kind": "strategy"},
                }
            },
            "aws_appconfig_deployment": {
                "deploy": {
                    "application_id": "${aws_appconfig_application.app.id}",
                    "environment_id": "${aws_appconfig_environment.env.environment_id}",
                    "configuration_profile_id": "${aws_appconfig_configuration_profile.profile.configuration_profile_id}",
                    "configuration_version": "${aws_secretsmanager_secret_version.secret.version_id}",
                    "deployment_strategy_id": "${aws_appconfig_deployment_strategy.all_at_once.id}",
                    "kms_key_identifier": "${aws_kms_key.key.arn}",
                    "description": "first deployment",
                    "tags": {"kind": "deployment"},
                }
            },
        },
        "output": {
            name: {"value": value}
            for name, value in {
                "application_id": "${aws_appconfig_application.app.id}",
                "environment_id": "${aws_appconfig_environment.env.environment_id}",
                "environment_arn": "${aws_appconfig_environment.env.arn}",
                "strategy_id": "${aws_appconfig_deployment_strategy.all_at_once.id}",
                "deployment_number": "${aws_appconfig_deployment.deploy.deployment_number}",
                "deployment_state": "${aws_appconfig_deployment.deploy.state}",
                "version_id": "${aws_secretsmanager_secret_version.secret.version_id}",
                "key_arn": "${aws_kms_key.key.arn}",
            }.items()
        },
    }


@pytest.fixture(scope="module")
def applied(
    emulator: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str], dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("appconfig-stack")
    (workdir / "main.tf.json").write_text(json.dumps(configuration(emulator.endpoint_url)))
    env = emulator_terraform_env(emulator.endpoint_url, REGION)
    run_terraform(["init", "-input=false", "-no-color"], workdir, env, capture=True)
    run_terraform(
        ["apply", "-auto-approve", "-input=false", "-no-color"], workdir, env, capture=True
    )
    result = run_terraform(["output", "-json"], workdir, env, capture=True)
    outputs = {name: value["value"] for name, value in json.loads(result.stdout).items()}
    yield workdir, env, outputs
    run_terraform(["destroy", "-auto-approve", "-no-color"], workdir, env, capture=True)


def test_apply_creates_a_complete_deployment_of_the_secret_version(
    applied: tuple[Path, dict[str, str], dict[str, Any]], client: ClientFactory
) -> None:
    _, _, outputs = applied
    appconfig = client("appconfig")
    deployment = appconfig.get_deployment(
        ApplicationId=outputs["application_id"],
        EnvironmentId=outputs["environment_id"],
        DeploymentNumber=int(outputs["deployment_number"]),
    )
    assert outputs["deployment_state"] == "COMPLETE"
    assert (deployment["DeploymentNumber"], deployment["State"]) == (1, "COMPLETE")
    assert deployment["ConfigurationVersion"] == outputs["version_id"]
    assert deployment["ConfigurationLocationUri"] == "secretsmanager://berth-emulator/demo"
    assert deployment["KmsKeyArn"] == outputs["key_arn"]
    environment = appconfig.get_environment(
        ApplicationId=outputs["application_id"], EnvironmentId=outputs["environment_id"]
    )
    assert (environment["Name"], environment["State"]) == ("uat", "READY_FOR_DEPLOYMENT")
    assert outputs["environment_arn"].startswith(f"arn:aws:appconfig:{REGION}:{MOTO_ACCOUNT}:")
    # Default tags and the resource's own, through the tags API the provider itself uses.
    assert appconfig.list_tags_for_resource(ResourceArn=outputs["environment_arn"])["Tags"] == {
        "project": "berth",
        "env": "uat",
    }


def test_a_second_plan_finds_no_drift(applied: tuple[Path, dict[str, str], dict[str, Any]]) -> None:
    workdir, env, _ = applied
    plan = subprocess.run(
        ["terraform", "plan", "-detailed-exitcode", "-input=false", "-no-color"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr  # 2 would mean changes


def test_destroy_removes_environment_and_strategy(
    applied: tuple[Path, dict[str, str], dict[str, Any]], client: ClientFactory
) -> None:
    workdir, env, outputs = applied
    run_terraform(["destroy", "-auto-approve", "-no-color"], workdir, env, capture=True)
    appconfig = client("appconfig")
    for call in (
        lambda: appconfig.get_environment(
            ApplicationId=outputs["application_id"], EnvironmentId=outputs["environment_id"]
        ),
        lambda: appconfig.get_deployment_strategy(DeploymentStrategyId=outputs["strategy_id"]),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
