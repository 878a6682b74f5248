"""`berth secret put ENV NAME`: write a secret's value out of band, then roll it out via AppConfig.

The value is read from stdin (never from the command line, where `ps` and shell history see it)
and goes straight to Secrets Manager, so it never enters Terraform's plan or state. A new
AppConfig deployment of the secret's new VersionId follows, so running pods pick up a rotation
on their next poll.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from berth.aws import add_credentials_arguments, environment_session, role_choice
from berth_core.config import load_environment
from berth_core.errors import BerthError
from berth_core.naming import SecretAppConfigNames, secret_app_config_names

if TYPE_CHECKING:
    import boto3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secret = subparsers.add_parser("secret", help="manage secrets delivered through AppConfig")
    actions = secret.add_subparsers(dest="secret_command", required=True, metavar="ACTION")
    put = actions.add_parser(
        "put",
        help="read a value from stdin, store it as a new version, start an AppConfig deployment",
        description="Example: `berth secret put uat coralogix-private-key < key.txt`."
        " One trailing newline is removed.",
    )
    put.add_argument("environment", metavar="ENV", help="environment name (environments/ENV.yaml)")
    put.add_argument("name", metavar="NAME", help="secret name, e.g. coralogix-private-key")
    put.add_argument(
        "--from-tty",
        action="store_true",
        help="prompt for the value on the terminal (not echoed) instead of refusing a TTY stdin",
    )
    put.add_argument(
        "--skip-deployment",
        action="store_true",
        help="store the value only; running pods keep the previous one until the next deployment",
    )
    add_credentials_arguments(put)
    put.set_defaults(handler=_put)


def read_value(
    stream: Any, *, from_tty: bool, prompt: Callable[[str], str] = getpass.getpass
) -> str:
    """The secret from `stream` (one trailing newline removed) or, with `from_tty`, a prompt."""
    if stream.isatty():
        if not from_tty:
            raise BerthError(
                "stdin is a terminal: pipe the value in (`... < file`) or pass --from-tty"
            )
        value = prompt("Secret value (not echoed): ")
    else:
        value = stream.read()
        value = value.removesuffix("\n").removesuffix("\r") if value.endswith("\n") else value
    if not value:
        raise BerthError("the value is empty; nothing was written")
    return str(value)


def _put(args: argparse.Namespace) -> int:
    environment = load_environment(args.environment)
    try:
        names = secret_app_config_names(environment.name_prefix, environment.name, args.name)
    except ValueError as error:
        raise BerthError(str(error)) from None
    value = read_value(sys.stdin, from_tty=args.from_tty)
    # As the deploy role, like Terraform: it created the secret and the AppConfig resources.
    session = environment_session(environment, role_choice(environment, args))
    version_id, kms_key_id = put_secret_value(session, names, value)
    print(f"stored a new version of {names.secret} in {environment.name}: {version_id}")
    if args.skip_deployment:
        print("AppConfig deployment skipped (--skip-deployment)")
        return 0
    number = start_deployment(session.client("appconfig"), names, version_id, kms_key_id)
    print(f"started AppConfig deployment #{number} of {names.application}/{names.environment}")
    return 0


def put_secret_value(
    session: boto3.Session, names: SecretAppConfigNames, value: str
) -> tuple[str, str | None]:
    """Store `value` as the secret's new AWSCURRENT version: (VersionId, KmsKeyId of the secret)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = session.client("secretsmanager")
    try:
        described = client.describe_secret(SecretId=names.secret)
        response = client.put_secret_value(
            SecretId=names.secret, SecretString=value, ClientRequestToken=str(uuid.uuid4())
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise BerthError(
                f"secret {names.secret} does not exist in {session.region_name}; deploy the"
                " environment's stack first"
            ) from None
        # AWS error messages name the secret and the reason, never the value we sent.
        message = error.response.get("Error", {}).get("Message", "")
        raise BerthError(f"secret {names.secret}: {code}: {message}") from None
    except BotoCoreError as error:
        raise BerthError(f"secret {names.secret}: {error}") from None
    return str(response["VersionId"]), described.get("KmsKeyId")


def start_deployment(
    appconfig: Any, names: SecretAppConfigNames, version_id: str, kms_key_id: str | None
) -> int:
    """Deploy secret version `version_id` to its AppConfig environment; the deployment number.

    For a Secrets Manager source the configuration version is the secret's VersionId, and a
    customer-managed key must be named.
    https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-deploying.html
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from berth.appconfig import NotFoundError, find_ids, find_strategy_id

    if not kms_key_id:
        raise BerthError(
            f"secret {names.secret} has no customer-managed KMS key; AppConfig needs one"
        )
    try:
        ids = find_ids(appconfig, names)
        response = appconfig.start_deployment(
            ApplicationId=ids.application,
            EnvironmentId=ids.environment,
            DeploymentStrategyId=find_strategy_id(appconfig, names),
            ConfigurationProfileId=ids.profile,
            ConfigurationVersion=version_id,
            KmsKeyIdentifier=kms_key_id,
            Description=f"berth secret put: {names.secret} version {version_id}",
        )
    except NotFoundError as error:
        raise BerthError(f"{error}; deploy the environment's stack first") from None
    except ClientError as error:
        details = error.response.get("Error", {})
        raise BerthError(
            f"AppConfig deployment of {names.secret}: {details.get('Code')}:"
            f" {details.get('Message')}"
            " (the new value is stored; rerun or deploy it from the console)"
        ) from None
    except BotoCoreError as error:
        raise BerthError(f"AppConfig deployment of {names.secret}: {error}") from None
    return int(response["DeploymentNumber"])
