"""End to end: a secret given the documented way never lands in Terraform's files, yet is written.

A stack holding one `SecretAppConfig` (ephemeral variable, no AppConfig deployment: moto has no
AppConfig environments) is synthesized into a temporary folder, then real Terraform runs against
a fresh moto server: `init`, `plan -out`, `show -json` of the plan, `apply` of the saved plan,
`destroy`. A random canary is given only as `TF_VAR_<name>` (the ephemeral variable). It must
appear zero times in the synthesized JSON, the saved plan (raw bytes and each member of the
archive), the plan as JSON and the state, and boto3 must read exactly the canary back from moto.
"""

from __future__ import annotations

import json
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from berth.local import EMULATOR_CREDENTIALS, MotoServer, emulator_terraform_env
from berth.terraform import run_terraform
from berth_core.naming import secret_app_config_names
from tests.support.constants import MOTO_ACCOUNT, REGION

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-secret")]

PREFIX = "berth-e2e"
NAME = "canary-key"
NAMES = secret_app_config_names(PREFIX, "e2e", NAME)
# Services the stack touches, each pointed at moto (as stacks/base.py does for the emulator).
EMULATED_SERVICES = ("appconfig", "iam", "kms", "secretsmanager", "sts")


@dataclass(frozen=True)
class Applied:
    canary: str
    synthesized: bytes
    plan_file: bytes
    plan_members: dict[str, bytes]
    plan_json: str
    state: bytes
    read_back: str


def _synth(outdir: Path, endpoint_url: str, state_path: Path) -> Path:
    """Synthesize the test stack into `outdir`; returns the stack's folder."""
    import cdktf
    from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderEndpoints

    from berth_constructs.secret_app_config import SecretAppConfig, SecretAppConfigProps

    app = cdktf.App(outdir=str(outdir))
    stack = cdktf.TerraformStack(app, "secret-e2e")
    cdktf.LocalBackend(stack, path=str(state_path))
    AwsProvider(
        stack,
        "aws",
        region=REGION,
        endpoints=[AwsProviderEndpoints(**{s: endpoint_url for s in EMULATED_SERVICES})],
        skip_credentials_validation=True,
        skip_metadata_api_check="true",
    )
    SecretAppConfig(
        stack,
        "canary",
        SecretAppConfigProps(
            name=NAME,
            name_prefix=PREFIX,
            environment_name="e2e",
            account_id=MOTO_ACCOUNT,
            region=REGION,
            value_source="ephemeral_variable",
            allow_immediate_deletion=True,
        ),
    )
    app.synth()
    return outdir / "stacks" / "secret-e2e"


def _unzip(data: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(data) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    work = tmp_path_factory.mktemp("secret-e2e")
    canary = f"canary-{secrets.token_hex(16)}"
    with MotoServer(log_path=work / "moto.log") as moto:
        state_path = work / "terraform.tfstate"
        stack_dir = _synth(work / "cdktf.out", moto.endpoint_url, state_path)
        env = {
            **emulator_terraform_env(moto.endpoint_url, REGION),
            f"TF_VAR_{NAMES.value_variable}": canary,
        }
        run_terraform(["init", "-input=false", "-no-color"], stack_dir, env, capture=True)
        run_terraform(
            ["plan", "-input=false", "-no-color", "-out=secret.tfplan"],
            stack_dir,
            env,
            capture=True,
        )
        plan_json = run_terraform(
            ["show", "-json", "secret.tfplan"], stack_dir, env, capture=True
        ).stdout
        try:
            # Ephemeral values are not saved in the plan: apply reads TF_VAR_ again.
            run_terraform(
                ["apply", "-input=false", "-no-color", "secret.tfplan"],
                stack_dir,
                env,
                capture=True,
            )
            client = boto3.client(
                "secretsmanager",
                endpoint_url=moto.endpoint_url,
                region_name=REGION,
                **{key.lower(): value for key, value in EMULATOR_CREDENTIALS.items()},
            )
            read_back = client.get_secret_value(SecretId=NAMES.secret)["SecretString"]
            yield Applied(
                canary=canary,
                synthesized=(stack_dir / "cdk.tf.json").read_bytes(),
                plan_file=(stack_dir / "secret.tfplan").read_bytes(),
                plan_members=_unzip(stack_dir / "secret.tfplan"),
                plan_json=plan_json,
                state=state_path.read_bytes(),
                read_back=read_back,
            )
        finally:
            run_terraform(
                ["destroy", "-auto-approve", "-input=false", "-no-color"],
                stack_dir,
                env,
                capture=True,
            )


def test_the_value_was_really_written_to_secrets_manager(applied: Applied) -> None:
    assert applied.read_back == applied.canary


def test_synthesized_json_never_holds_the_value(applied: Applied) -> None:
    assert applied.canary.encode() not in applied.synthesized
    stack = json.loads(applied.synthesized)
    variable = stack["variable"][NAMES.value_variable]
    assert variable["ephemeral"] is True and variable["sensitive"] is True


def test_saved_plan_never_holds_the_value(applied: Applied) -> None:
    assert applied.canary.encode() not in applied.plan_file
    assert applied.plan_members, "the saved plan is a zip archive with members"
    for name, content in applied.plan_members.items():
        assert applied.canary.encode() not in content, name


def test_plan_as_json_never_holds_the_value(applied: Applied) -> None:
    assert applied.canary not in applied.plan_json
    # The plan did create the version: the value was withheld, not the resource.
    changes = json.loads(applied.plan_json)["resource_changes"]
    assert any(c["type"] == "aws_secretsmanager_secret_version" for c in changes)


def test_state_never_holds_the_value(applied: Applied) -> None:
    assert applied.state, "apply wrote a state file"
    assert applied.canary.encode() not in applied.state
    versions = [
        r
        for r in json.loads(applied.state)["resources"]
        if r["type"] == "aws_secretsmanager_secret_version"
    ]
    assert len(versions) == 1
    attributes = versions[0]["instances"][0]["attributes"]
    assert attributes.get("secret_string_wo") is None
    assert attributes.get("secret_string") in ("", None)
