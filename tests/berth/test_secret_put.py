"""`berth secret put ENV NAME` against the session's moto server, as a real child process.

The value goes in on stdin only; it must reach Secrets Manager and never show up in what the
command prints. AppConfig deployments are not emulated by moto, so the deployment step is
checked with botocore's Stubber (AWS's side stubbed, our lookup and request real).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from berth.cli import BerthError
from berth.commands_secret import read_value, start_deployment
from berth.local import EMULATOR_CREDENTIALS
from berth.naming import secret_app_config_names

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_YAML = """\
account_id: "123456789012"
region: eu-west-1
name_prefix: berth-put
emulator: true
helm_repo:
  publisher_principals:
    - arn:aws:iam::123456789012:role/berth-put-chart-publisher
"""
NAMES = secret_app_config_names("berth-put", "local", "coralogix-private-key")


@pytest.fixture(scope="module")
def environments_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("environments")
    (directory / "local.yaml").write_text(LOCAL_YAML)
    return directory


@pytest.fixture
def secret(aws_session: boto3.Session) -> str:
    """The secret as SecretAppConfig creates it: empty, encrypted with its own KMS key."""
    key_id = aws_session.client("kms").create_key()["KeyMetadata"]["Arn"]
    client = aws_session.client("secretsmanager")
    client.create_secret(Name=NAMES.secret, KmsKeyId=key_id)
    yield NAMES.secret
    client.delete_secret(SecretId=NAMES.secret, ForceDeleteWithoutRecovery=True)


def _berth(
    args: list[str], environments_dir: Path, moto_endpoint: str | None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **EMULATOR_CREDENTIALS,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "BERTH_ENVIRONMENTS_DIR": str(environments_dir),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    if moto_endpoint:
        env["AWS_ENDPOINT_URL"] = moto_endpoint
    return subprocess.run(
        [sys.executable, "-m", "berth", *args],
        cwd=PROJECT_ROOT,
        env=env,
        text=True,
        capture_output=True,
        check=False,
        timeout=120,
        **kwargs,
    )


def test_put_stores_the_value_from_stdin_and_never_prints_it(
    secret: str, environments_dir: Path, moto_endpoint: str, aws_session: boto3.Session
) -> None:
    canary = f"canary-{secrets.token_hex(16)}"
    result = _berth(
        ["secret", "put", "local", "coralogix-private-key"],
        environments_dir,
        moto_endpoint,
        input=f"{canary}\n",
    )
    assert result.returncode == 0, result.stderr
    stored = aws_session.client("secretsmanager").get_secret_value(SecretId=secret)
    assert stored["SecretString"] == canary  # one trailing newline removed, nothing else
    assert stored["VersionId"] in result.stdout
    assert "emulator has no AppConfig" in result.stdout
    assert canary not in result.stdout and canary not in result.stderr


def test_missing_secret_is_one_line_error(environments_dir: Path, moto_endpoint: str) -> None:
    result = _berth(
        ["secret", "put", "local", "no-such-key"], environments_dir, moto_endpoint, input="x\n"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "berth: secret berth-put/no-such-key does not exist in eu-west-1;"
        " deploy the environment's stack first"
    ]


def test_value_on_the_command_line_is_refused(environments_dir: Path, moto_endpoint: str) -> None:
    result = _berth(
        ["secret", "put", "local", "coralogix-private-key", "the-value"],
        environments_dir,
        moto_endpoint,
        input="",
    )
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_a_terminal_on_stdin_is_refused_without_from_tty(
    environments_dir: Path, moto_endpoint: str
) -> None:
    controller, terminal = os.openpty()
    try:
        result = _berth(
            ["secret", "put", "local", "coralogix-private-key"],
            environments_dir,
            moto_endpoint,
            stdin=terminal,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.returncode == 1
    assert "stdin is a terminal" in result.stderr


def test_emulator_environment_needs_the_endpoint(environments_dir: Path) -> None:
    result = _berth(
        ["secret", "put", "local", "coralogix-private-key"], environments_dir, None, input="x"
    )
    assert result.returncode == 1
    assert "AWS_ENDPOINT_URL is not set" in result.stderr


class _Stream:
    def __init__(self, text: str, tty: bool = False) -> None:
        self._text, self._tty = text, tty

    def isatty(self) -> bool:
        return self._tty

    def read(self) -> str:
        return self._text


@pytest.mark.parametrize(
    ("given", "stored"),
    [("key\n", "key"), ("key\r\n", "key"), ("key\n\n", "key\n"), ("key", "key"), (" k \n", " k ")],
)
def test_exactly_one_trailing_newline_is_removed(given: str, stored: str) -> None:
    assert read_value(_Stream(given), from_tty=False) == stored


def test_empty_value_is_refused() -> None:
    with pytest.raises(BerthError, match="the value is empty"):
        read_value(_Stream("\n"), from_tty=False)


def test_from_tty_prompts_without_echo() -> None:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return "typed"

    assert read_value(_Stream("", tty=True), from_tty=True, prompt=prompt) == "typed"
    assert prompts == ["Secret value (not echoed): "]


def _stubbed_appconfig(strategies: list[dict[str, str]]) -> tuple[Any, Stubber]:
    client = boto3.client(
        "appconfig", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    app = {"Id": "app1234", "Name": NAMES.application}
    stubber.add_response("list_applications", {"Items": [{"Id": "other12", "Name": "x"}, app]})
    stubber.add_response(
        "list_environments",
        {"Items": [{"Id": "env1234", "Name": NAMES.environment}]},
        {"ApplicationId": "app1234"},
    )
    stubber.add_response(
        "list_configuration_profiles",
        {"Items": [{"Id": "prof123", "Name": NAMES.profile}]},
        {"ApplicationId": "app1234"},
    )
    stubber.add_response("list_deployment_strategies", {"Items": strategies})
    return client, stubber


def test_deployment_deploys_the_new_secret_version_with_the_kms_key() -> None:
    client, stubber = _stubbed_appconfig([{"Id": "strat12", "Name": NAMES.deployment_strategy}])
    key = "arn:aws:kms:eu-west-1:123456789012:key/abc"
    stubber.add_response(
        "start_deployment",
        {"DeploymentNumber": 7},
        {
            "ApplicationId": "app1234",
            "EnvironmentId": "env1234",
            "DeploymentStrategyId": "strat12",
            "ConfigurationProfileId": "prof123",
            "ConfigurationVersion": "version-uuid",
            "KmsKeyIdentifier": key,
            "Description": f"berth secret put: {NAMES.secret} version version-uuid",
        },
    )
    with stubber:
        assert start_deployment(client, NAMES, "version-uuid", key) == 7
    stubber.assert_no_pending_responses()


def test_deployment_names_what_is_missing() -> None:
    client, stubber = _stubbed_appconfig([])
    with stubber, pytest.raises(BerthError, match="deployment strategy 'berth-put-coralogix"):
        start_deployment(client, NAMES, "v", "arn:aws:kms:eu-west-1:123456789012:key/abc")


def test_deployment_needs_a_customer_managed_key() -> None:
    with pytest.raises(BerthError, match="has no customer-managed KMS key; AppConfig needs one"):
        start_deployment(object(), NAMES, "v", None)
