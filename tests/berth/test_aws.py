"""berth.aws: `berth` commands reach an environment as its deploy role, like the provider."""

from __future__ import annotations

import argparse

import boto3
import pytest

from berth.aws import CredentialsError, RoleChoice, environment_session, role_choice
from berth_core.config import load_environment

UAT_DEPLOY = "arn:aws:iam::111111111111:role/berth-uat-deploy"


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"role_arn": None, "ambient_credentials": False, **values})


def test_the_deploy_role_is_the_default_with_the_providers_session_name() -> None:
    assert role_choice(load_environment("uat"), _args()) == RoleChoice(
        role_arn=UAT_DEPLOY, session_name="berth-uat", external_id=None
    )


def test_another_role_or_the_ambient_credentials_when_asked() -> None:
    uat = load_environment("uat")
    other = "arn:aws:iam::111111111111:role/operator"
    assert role_choice(uat, _args(role_arn=other)) == RoleChoice(
        role_arn=other, session_name="berth-uat"
    )
    assert role_choice(uat, _args(ambient_credentials=True)).role_arn is None
    assert role_choice(load_environment("local"), _args()).role_arn is None


def test_the_session_acts_in_the_environments_account(aws_session: boto3.Session) -> None:
    # The emulator gives assumed-role credentials the role's account, as AWS does.
    session = environment_session(load_environment("uat"), role_choice(load_environment("uat")))
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"] == "arn:aws:sts::111111111111:assumed-role/berth-uat-deploy/berth-uat"


def test_a_refused_assumption_names_the_role_and_where_it_comes_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.stub import Stubber

    sts = boto3.client(
        "sts", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    stubber = Stubber(sts)
    stubber.add_client_error(
        "assume_role", "AccessDenied", "not authorized to perform sts:AssumeRole"
    )
    stubber.activate()
    monkeypatch.setattr(boto3.Session, "client", lambda self, service, **kw: sts)
    with pytest.raises(CredentialsError) as refused:
        environment_session(load_environment("uat"), role_choice(load_environment("uat")))
    message = str(refused.value)
    assert (
        UAT_DEPLOY in message and "environments/uat.yaml" in message and "AccessDenied" in message
    )


def test_the_emulator_environment_needs_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    local = load_environment("local")
    with pytest.raises(CredentialsError, match="AWS_ENDPOINT_URL is not set"):
        environment_session(local, role_choice(local))
