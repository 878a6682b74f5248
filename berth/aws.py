"""AWS credentials for `berth` commands: the environment's deploy role, as Terraform uses it.

The aws provider and the S3 backend of every real stack assume `deploy_role.role_arn` (with its
session name and external id). Every `berth` command that touches an environment's AWS
resources does the same by default, so an operator needs one permission, "may assume the deploy
role", whatever they run. `--role-arn ARN` takes another role instead (the same session name);
`--ambient-credentials` uses the caller's own credentials unchanged, for a CI job that already
runs as a purpose-built role (the chart publisher, through GitHub OIDC).

The emulator environment has no deploy role: its commands use the emulator's fixed credentials
and `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from berth_core.config import Environment
from berth_core.errors import BerthError

if TYPE_CHECKING:
    import boto3

ENDPOINT_ENV = "AWS_ENDPOINT_URL"


class CredentialsError(BerthError):
    """The environment's AWS credentials could not be had; the message says which role and why."""


@dataclass(frozen=True)
class RoleChoice:
    """Which credentials a command uses: a role to assume, or (None) the ambient ones."""

    role_arn: str | None
    session_name: str = "berth"
    external_id: str | None = None

    @property
    def description(self) -> str:
        return f"role {self.role_arn}" if self.role_arn else "the ambient credentials"


def add_credentials_arguments(parser: argparse.ArgumentParser) -> None:
    """`--role-arn` and `--ambient-credentials`, for commands that call AWS."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--role-arn",
        metavar="ARN",
        help="assume this role instead of the environment's deploy role",
    )
    group.add_argument(
        "--ambient-credentials",
        action="store_true",
        help="use the caller's credentials as they are (e.g. a CI job's OIDC role)",
    )


def role_choice(environment: Environment, args: argparse.Namespace | None = None) -> RoleChoice:
    """The credentials a command uses for `environment`, from its arguments (see module doc)."""
    role_arn = getattr(args, "role_arn", None)
    if getattr(args, "ambient_credentials", False) or environment.deploy_role is None:
        return RoleChoice(role_arn=None)
    deploy = environment.deploy_role
    if role_arn:
        return RoleChoice(role_arn=role_arn, session_name=deploy.session_name)
    return RoleChoice(
        role_arn=deploy.role_arn, session_name=deploy.session_name, external_id=deploy.external_id
    )


def environment_session(environment: Environment, choice: RoleChoice) -> boto3.Session:
    """A boto3 session in the environment's region with the chosen credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if environment.emulator and not os.environ.get(ENDPOINT_ENV):
        raise CredentialsError(
            f"{environment.name} lives in the emulator: run `berth emulator` and source"
            f" .berth/emulator.env first ({ENDPOINT_ENV} is not set)"
        )
    ambient = boto3.Session(region_name=environment.region)
    if choice.role_arn is None:
        return ambient
    request = {"RoleArn": choice.role_arn, "RoleSessionName": choice.session_name}
    if choice.external_id:
        request["ExternalId"] = choice.external_id
    try:
        credentials = ambient.client("sts").assume_role(**request)["Credentials"]
    except ClientError as error:
        details = error.response.get("Error", {})
        raise CredentialsError(
            f"cannot assume {choice.role_arn} (deploy_role in environments/{environment.name}.yaml"
            f" unless --role-arn named it): {details.get('Code')}: {details.get('Message')}"
        ) from None
    except BotoCoreError as error:
        raise CredentialsError(f"cannot assume {choice.role_arn}: {error}") from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=environment.region,
    )
