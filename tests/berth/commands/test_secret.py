"""`berth secret put ENV NAME` against the session's emulator, as a real child process.

The value goes in on stdin only; it must reach Secrets Manager and never show up in what the
command prints; its new version is then deployed through AppConfig (the emulator has AppConfig
environments, strategies and deployments: berth/emulator).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from berth.appconfig import rollout
from berth.commands.secret import read_value, start_deployment
from berth.local import EMULATOR_CREDENTIALS
from berth_core.config import PROJECT_ROOT
from berth_core.errors import BerthError
from berth_core.naming import secret_app_config_names

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
def secret(aws_session: boto3.Session) -> Iterator[str]:
    """The secret and its AppConfig resources as SecretAppConfig creates them: the secret empty
    and encrypted with its own KMS key, an application, environment, profile and strategy."""
    key_id = aws_session.client("kms").create_key()["KeyMetadata"]["Arn"]
    client = aws_session.client("secretsmanager")
    client.create_secret(Name=NAMES.secret, KmsKeyId=key_id)
    appconfig = aws_session.client("appconfig")
    app = appconfig.create_application(Name=NAMES.application)["Id"]
    environment = appconfig.create_environment(ApplicationId=app, Name=NAMES.environment)["Id"]
    profile = appconfig.create_configuration_profile(
        ApplicationId=app,
        Name=NAMES.profile,
        LocationUri=f"secretsmanager://{NAMES.secret}",
        RetrievalRoleArn=f"arn:aws:iam::123456789012:role/{NAMES.retrieval_role}",
        Type="AWS.Freeform",
    )["Id"]
    appconfig.create_deployment_strategy(
        Name=NAMES.deployment_strategy,
        DeploymentDurationInMinutes=0,
        FinalBakeTimeInMinutes=0,
        GrowthFactor=100,
        ReplicateTo="NONE",
    )
    yield NAMES.secret
    for strategy in appconfig.list_deployment_strategies()["Items"]:
        if strategy["Name"] == NAMES.deployment_strategy:
            appconfig.delete_deployment_strategy(DeploymentStrategyId=strategy["Id"])
    appconfig.delete_configuration_profile(ApplicationId=app, ConfigurationProfileId=profile)
    appconfig.delete_environment(ApplicationId=app, EnvironmentId=environment)
    appconfig.delete_application(ApplicationId=app)
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
    # The emulator has AppConfig environments: the new version is deployed at once.
    assert f"started AppConfig deployment #1 of {NAMES.application}/local" in result.stdout
    served = rollout(aws_session.client("appconfig"), aws_session.client("secretsmanager"), NAMES)
    assert served.current_version == stored["VersionId"] and served.deployed
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


def test_deployment_names_what_is_missing(secret: str, aws_session: boto3.Session) -> None:
    appconfig_client = aws_session.client("appconfig")
    (strategy,) = [
        item["Id"]
        for item in appconfig_client.list_deployment_strategies()["Items"]
        if item["Name"] == NAMES.deployment_strategy
    ]
    appconfig_client.delete_deployment_strategy(DeploymentStrategyId=strategy)
    version = aws_session.client("secretsmanager").put_secret_value(
        SecretId=secret, SecretString="x"
    )["VersionId"]
    key = aws_session.client("secretsmanager").describe_secret(SecretId=secret)["KmsKeyId"]
    with pytest.raises(BerthError, match="deployment strategy 'berth-put-coralogix"):
        start_deployment(appconfig_client, NAMES, version, key)
