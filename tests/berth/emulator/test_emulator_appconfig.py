"""The AppConfig operations the emulator adds to moto, through boto3 against a real emulator.

Every added operation and every error it documents, as the AWS AppConfig API reference
describes them; the clock-driven parts (DEPLOYING, BAKING, COMPLETE) are reached with strategies
whose times do not pass during a test, so nothing here waits or measures time.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulator_support import ClientFactory

from berth.commands.secret import start_deployment
from berth.local import MotoServer
from berth_core.naming import secret_app_config_names
from tests.support.constants import MOTO_ACCOUNT, REGION

OTHER_ACCOUNT = "210987654321"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def expect_error(call: Callable[[], Any], code: str, status: int) -> str:
    """Run `call`, expect the AWS error `code` with HTTP `status`; return its message."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    return str(error["Error"]["Message"])


@pytest.fixture(scope="module")
def appconfig(client: ClientFactory) -> Any:
    return client("appconfig")


@pytest.fixture(scope="module")
def lax_appconfig(client: ClientFactory) -> Any:
    """A client that sends what boto3 would refuse, so the server's own checks answer."""
    return client("appconfig", validate=False)


@dataclass(frozen=True)
class World:
    """An application with an environment, a secret with one version, a secretsmanager://
    profile on it and a 0-minute strategy: what `SecretAppConfig` creates."""

    application: str
    environment: str
    profile: str
    strategy: str
    secret: str
    version: str
    key_id: str
    key_arn: str

    def start(self, appconfig: Any, **overrides: Any) -> dict[str, Any]:
        request = {
            "ApplicationId": self.application,
            "EnvironmentId": self.environment,
            "DeploymentStrategyId": self.strategy,
            "ConfigurationProfileId": self.profile,
            "ConfigurationVersion": self.version,
            "KmsKeyIdentifier": self.key_arn,
            **overrides,
        }
        return dict(
            appconfig.start_deployment(**{k: v for k, v in request.items() if v is not None})
        )


def _strategy(appconfig: Any, duration: int, bake: int, factor: float = 100.0) -> str:
    return str(
        appconfig.create_deployment_strategy(
            Name=_unique("strategy"),
            DeploymentDurationInMinutes=duration,
            FinalBakeTimeInMinutes=bake,
            GrowthFactor=factor,
            GrowthType="LINEAR",
            ReplicateTo="NONE",
        )["Id"]
    )


def _environment(appconfig: Any, application: str) -> str:
    return str(appconfig.create_environment(ApplicationId=application, Name="uat")["Id"])


@pytest.fixture
def world(client: ClientFactory, appconfig: Any) -> World:
    kms, secretsmanager = client("kms"), client("secretsmanager")
    key = kms.create_key(Description="berth emulator test")["KeyMetadata"]
    secret = _unique("berth/demo")
    version = secretsmanager.create_secret(
        Name=secret, KmsKeyId=key["Arn"], SecretString="not-a-secret"
    )["VersionId"]
    application = appconfig.create_application(Name=_unique("app"))["Id"]
    profile = appconfig.create_configuration_profile(
        ApplicationId=application,
        Name="demo",
        LocationUri=f"secretsmanager://{secret}",
        RetrievalRoleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/retrieval",
        Type="AWS.Freeform",
    )["Id"]
    return World(
        application=application,
        environment=_environment(appconfig, application),
        profile=profile,
        strategy=_strategy(appconfig, 0, 0),
        secret=secret,
        version=version,
        key_id=key["KeyId"],
        key_arn=key["Arn"],
    )


def _environment_state(appconfig: Any, world: World, environment: str | None = None) -> str:
    return str(
        appconfig.get_environment(
            ApplicationId=world.application, EnvironmentId=environment or world.environment
        )["State"]
    )


# --- ListApplications ---------------------------------------------------------------------


def test_list_applications_lists_motos_applications_page_by_page(
    client: ClientFactory, appconfig: Any
) -> None:
    # A region of its own, so only these two applications are there.
    regional = client("appconfig", region_name="eu-north-1")
    created = [regional.create_application(Name=_unique("listed"))["Id"] for _ in range(2)]
    first = regional.list_applications(MaxResults=1)
    second = regional.list_applications(MaxResults=1, NextToken=first["NextToken"])
    assert [first["Items"][0]["Id"], second["Items"][0]["Id"]] == created
    assert "NextToken" not in second
    paginated = regional.get_paginator("list_applications").paginate(
        PaginationConfig={"PageSize": 1}
    )
    assert [item["Id"] for page in paginated for item in page["Items"]] == created


def test_list_applications_refuses_a_token_it_never_gave(appconfig: Any) -> None:
    expect_error(
        lambda: appconfig.list_applications(NextToken="not-a-token"), "BadRequestException", 400
    )


# --- environments -------------------------------------------------------------------------


def test_create_environment_answers_201_ready_for_deployment(appconfig: Any, world: World) -> None:
    created = appconfig.create_environment(
        ApplicationId=world.application,
        Name="prod",
        Description="the real one",
        Monitors=[{"AlarmArn": f"arn:aws:cloudwatch:{REGION}:{MOTO_ACCOUNT}:alarm:errors"}],
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert {key: created[key] for key in ("ApplicationId", "Name", "Description", "State")} == {
        "ApplicationId": world.application,
        "Name": "prod",
        "Description": "the real one",
        "State": "READY_FOR_DEPLOYMENT",
    }
    assert created["Monitors"] == [
        {"AlarmArn": f"arn:aws:cloudwatch:{REGION}:{MOTO_ACCOUNT}:alarm:errors"}
    ]
    fetched = appconfig.get_environment(
        ApplicationId=world.application, EnvironmentId=created["Id"]
    )
    assert fetched["Name"] == "prod"


def test_create_environment_needs_an_application_moto_holds(appconfig: Any) -> None:
    message = expect_error(
        lambda: appconfig.create_environment(ApplicationId="abc1234", Name="uat"),
        "ResourceNotFoundException",
        404,
    )
    assert "abc1234" in message


@pytest.mark.parametrize(
    ("request_members", "field"),
    [
        ({"Name": ""}, "Name"),
        ({"Name": "x" * 65}, "Name"),
        ({}, "Name"),
        ({"Name": "uat", "Description": "d" * 1025}, "Description"),
        ({"Name": "uat", "Monitors": [{"AlarmRoleArn": "arn:aws:iam::1:role/x"}]}, "AlarmArn"),
        ({"Name": "uat", "Tags": {"": "empty key"}}, "Tags"),
    ],
)
def test_environment_input_outside_the_model_is_a_bad_request(
    lax_appconfig: Any, world: World, request_members: dict[str, Any], field: str
) -> None:
    message = expect_error(
        lambda: lax_appconfig.create_environment(
            ApplicationId=world.application, **request_members
        ),
        "BadRequestException",
        400,
    )
    assert field in message


def test_get_environment_of_an_unknown_environment_or_application_is_not_found(
    appconfig: Any, world: World
) -> None:
    for application, environment in (
        (world.application, "zzz9999"),
        ("zzz9999", world.environment),
    ):
        expect_error(
            lambda a=application, e=environment: appconfig.get_environment(
                ApplicationId=a, EnvironmentId=e
            ),
            "ResourceNotFoundException",
            404,
        )


def test_update_environment_changes_only_what_it_is_given(appconfig: Any, world: World) -> None:
    appconfig.update_environment(
        ApplicationId=world.application, EnvironmentId=world.environment, Description="first"
    )
    updated = appconfig.update_environment(
        ApplicationId=world.application, EnvironmentId=world.environment, Name="renamed"
    )
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (updated["Name"], updated["Description"]) == ("renamed", "first")
    expect_error(
        lambda: appconfig.update_environment(
            ApplicationId=world.application, EnvironmentId="zzz9999", Name="x"
        ),
        "ResourceNotFoundException",
        404,
    )


def test_list_environments_lists_that_applications_only(appconfig: Any, world: World) -> None:
    other = appconfig.create_application(Name=_unique("other"))["Id"]
    _environment(appconfig, other)
    second = _environment(appconfig, world.application)
    listed = appconfig.list_environments(ApplicationId=world.application)["Items"]
    assert [item["Id"] for item in listed] == [world.environment, second]
    assert {item["State"] for item in listed} == {"READY_FOR_DEPLOYMENT"}
    expect_error(
        lambda: appconfig.list_environments(ApplicationId="zzz9999"),
        "ResourceNotFoundException",
        404,
    )


def test_delete_environment_answers_204_and_forgets_it(appconfig: Any, world: World) -> None:
    deleted = appconfig.delete_environment(
        ApplicationId=world.application, EnvironmentId=world.environment
    )
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(
        lambda: appconfig.get_environment(
            ApplicationId=world.application, EnvironmentId=world.environment
        ),
        "ResourceNotFoundException",
        404,
    )
    expect_error(
        lambda: appconfig.delete_environment(
            ApplicationId=world.application, EnvironmentId=world.environment
        ),
        "ResourceNotFoundException",
        404,
    )


def test_delete_environment_with_a_deployment_in_progress_conflicts(
    appconfig: Any, world: World
) -> None:
    world.start(appconfig, DeploymentStrategyId=_strategy(appconfig, 10, 0))
    expect_error(
        lambda: appconfig.delete_environment(
            ApplicationId=world.application, EnvironmentId=world.environment
        ),
        "ConflictException",
        409,
    )


# --- deployment strategies ----------------------------------------------------------------


def test_create_deployment_strategy_answers_201_with_the_documented_defaults(
    appconfig: Any,
) -> None:
    created = appconfig.create_deployment_strategy(
        Name="minimal", DeploymentDurationInMinutes=5, GrowthFactor=25
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert {key: value for key, value in created.items() if key != "ResponseMetadata"} == {
        "Id": created["Id"],
        "Name": "minimal",
        "DeploymentDurationInMinutes": 5,
        "GrowthType": "LINEAR",
        "GrowthFactor": 25.0,
        "FinalBakeTimeInMinutes": 0,
        "ReplicateTo": "NONE",
    }


@pytest.mark.parametrize(
    ("request_members", "field"),
    [
        ({"GrowthFactor": 0.5}, "GrowthFactor"),
        ({"GrowthFactor": 101}, "GrowthFactor"),
        ({"DeploymentDurationInMinutes": 1441}, "DeploymentDurationInMinutes"),
        ({"FinalBakeTimeInMinutes": -1}, "FinalBakeTimeInMinutes"),
        ({"GrowthType": "SIDEWAYS"}, "GrowthType"),
        ({"ReplicateTo": "S3"}, "ReplicateTo"),
        ({"Name": None}, "Name"),
    ],
)
def test_strategy_input_outside_the_model_is_a_bad_request(
    lax_appconfig: Any, request_members: dict[str, Any], field: str
) -> None:
    request = {
        "Name": "bad",
        "DeploymentDurationInMinutes": 1,
        "GrowthFactor": 50,
        **request_members,
    }
    message = expect_error(
        lambda: lax_appconfig.create_deployment_strategy(
            **{key: value for key, value in request.items() if value is not None}
        ),
        "BadRequestException",
        400,
    )
    assert field in message


def test_get_update_and_delete_a_strategy_on_the_models_paths(appconfig: Any) -> None:
    paths: list[str] = []
    appconfig.meta.events.register(
        "before-send.appconfig.*",
        lambda request, **_: paths.append(request.method + " " + request.url),
    )
    strategy = _strategy(appconfig, 10, 5)
    assert (
        appconfig.get_deployment_strategy(DeploymentStrategyId=strategy)["FinalBakeTimeInMinutes"]
        == 5
    )
    updated = appconfig.update_deployment_strategy(
        DeploymentStrategyId=strategy, GrowthFactor=50, Description="faster"
    )
    assert (updated["GrowthFactor"], updated["DeploymentDurationInMinutes"]) == (50.0, 10)
    assert updated["Description"] == "faster"
    deleted = appconfig.delete_deployment_strategy(DeploymentStrategyId=strategy)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    # The API's own spelling: DELETE /deployementstrategies/{id}.
    assert paths[-1].startswith("DELETE ") and f"/deployementstrategies/{strategy}" in paths[-1]
    for call in (
        lambda: appconfig.get_deployment_strategy(DeploymentStrategyId=strategy),
        lambda: appconfig.update_deployment_strategy(DeploymentStrategyId=strategy, GrowthFactor=2),
        lambda: appconfig.delete_deployment_strategy(DeploymentStrategyId=strategy),
    ):
        expect_error(call, "ResourceNotFoundException", 404)


def test_predefined_strategies_are_listed_and_cannot_change(appconfig: Any) -> None:
    listed = {
        item["Id"]: item
        for page in appconfig.get_paginator("list_deployment_strategies").paginate()
        for item in page["Items"]
    }
    assert listed["AppConfig.AllAtOnce"] == {
        "Id": "AppConfig.AllAtOnce",
        "Name": "AppConfig.AllAtOnce",
        "DeploymentDurationInMinutes": 0,
        "GrowthType": "LINEAR",
        "GrowthFactor": 100.0,
        "FinalBakeTimeInMinutes": 10,
        "ReplicateTo": "NONE",
    }
    assert {
        "AppConfig.Linear20PercentEvery6Minutes",
        "AppConfig.Canary10Percent20Minutes",
        "AppConfig.Linear50PercentEvery30Seconds",
    } <= set(listed)
    for call in (
        lambda: appconfig.update_deployment_strategy(
            DeploymentStrategyId="AppConfig.AllAtOnce", GrowthFactor=50
        ),
        lambda: appconfig.delete_deployment_strategy(DeploymentStrategyId="AppConfig.AllAtOnce"),
    ):
        expect_error(call, "BadRequestException", 400)


def test_list_deployment_strategies_pages_through_the_accounts_strategies(
    client: ClientFactory,
) -> None:
    regional = client("appconfig", region_name="eu-south-1")
    mine = [_strategy(regional, 1, 1) for _ in range(3)]
    pages = list(
        regional.get_paginator("list_deployment_strategies").paginate(
            PaginationConfig={"PageSize": 2}
        )
    )
    listed = [item["Id"] for page in pages for item in page["Items"]]
    assert listed[-3:] == mine and len(listed) == 4 + 3
    assert all(len(page["Items"]) <= 2 for page in pages)


# --- deployments --------------------------------------------------------------------------


def test_a_zero_minute_deployment_of_a_secret_version_is_complete_at_once(
    appconfig: Any, world: World
) -> None:
    started = world.start(appconfig, Description="rotation", Tags={"why": "test"})
    assert started["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert {
        key: started[key]
        for key in (
            "ApplicationId",
            "EnvironmentId",
            "DeploymentStrategyId",
            "ConfigurationProfileId",
            "DeploymentNumber",
            "ConfigurationName",
            "ConfigurationLocationUri",
            "ConfigurationVersion",
            "Description",
            "DeploymentDurationInMinutes",
            "GrowthType",
            "GrowthFactor",
            "FinalBakeTimeInMinutes",
            "State",
            "PercentageComplete",
            "KmsKeyArn",
            "KmsKeyIdentifier",
        )
    } == {
        "ApplicationId": world.application,
        "EnvironmentId": world.environment,
        "DeploymentStrategyId": world.strategy,
        "ConfigurationProfileId": world.profile,
        "DeploymentNumber": 1,
        "ConfigurationName": "demo",
        "ConfigurationLocationUri": f"secretsmanager://{world.secret}",
        "ConfigurationVersion": world.version,
        "Description": "rotation",
        "DeploymentDurationInMinutes": 0,
        "GrowthType": "LINEAR",
        "GrowthFactor": 100.0,
        "FinalBakeTimeInMinutes": 0,
        "State": "COMPLETE",
        "PercentageComplete": 100.0,
        "KmsKeyArn": world.key_arn,
        "KmsKeyIdentifier": world.key_arn,
    }
    assert started["CompletedAt"] == started["StartedAt"]
    # Most recent first (API reference, Deployment.EventLog).
    assert [event["EventType"] for event in started["EventLog"]] == [
        "DEPLOYMENT_COMPLETED",
        "PERCENTAGE_UPDATED",
        "DEPLOYMENT_STARTED",
    ]
    assert started["EventLog"][-1]["TriggeredBy"] == "USER"
    assert _environment_state(appconfig, world) == "READY_FOR_DEPLOYMENT"


def test_a_key_alias_resolves_to_the_keys_arn(
    client: ClientFactory, appconfig: Any, world: World
) -> None:
    client("kms").create_alias(
        AliasName="alias/berth-test-" + uuid.uuid4().hex[:6], TargetKeyId=world.key_id
    )
    alias = client("kms").list_aliases(KeyId=world.key_id)["Aliases"][0]["AliasName"]
    started = world.start(appconfig, KmsKeyIdentifier=alias)
    assert (started["KmsKeyIdentifier"], started["KmsKeyArn"]) == (alias, world.key_arn)


def test_deployment_numbers_count_up_per_environment(appconfig: Any, world: World) -> None:
    numbers = [world.start(appconfig)["DeploymentNumber"] for _ in range(3)]
    other = _environment(appconfig, world.application)
    assert numbers == [1, 2, 3]
    assert world.start(appconfig, EnvironmentId=other)["DeploymentNumber"] == 1


def test_a_deployment_in_progress_is_deploying_and_blocks_the_next(
    appconfig: Any, world: World
) -> None:
    # Ten minutes at 20% a step: it cannot finish while this test runs.
    slow = _strategy(appconfig, 10, 0, factor=20)
    started = world.start(appconfig, DeploymentStrategyId=slow)
    assert (started["State"], started["PercentageComplete"]) == ("DEPLOYING", 20.0)
    assert "CompletedAt" not in started
    assert _environment_state(appconfig, world) == "DEPLOYING"
    message = expect_error(lambda: world.start(appconfig), "ConflictException", 409)
    assert "in progress" in message


def test_bake_time_reports_baking_after_a_zero_minute_rollout(appconfig: Any, world: World) -> None:
    started = world.start(appconfig, DeploymentStrategyId=_strategy(appconfig, 0, 10))
    assert (started["State"], started["PercentageComplete"]) == ("BAKING", 100.0)
    assert started["EventLog"][0]["EventType"] == "BAKE_TIME_STARTED"
    assert _environment_state(appconfig, world) == "DEPLOYING"
    expect_error(lambda: world.start(appconfig), "ConflictException", 409)


def test_predefined_strategy_all_at_once_bakes_ten_minutes(appconfig: Any, world: World) -> None:
    started = world.start(appconfig, DeploymentStrategyId="AppConfig.AllAtOnce")
    assert (started["State"], started["FinalBakeTimeInMinutes"]) == ("BAKING", 10)


@pytest.mark.parametrize(
    "missing", ["ApplicationId", "EnvironmentId", "DeploymentStrategyId", "ConfigurationProfileId"]
)
def test_start_deployment_of_something_missing_is_not_found(
    appconfig: Any, world: World, missing: str
) -> None:
    message = expect_error(
        lambda: world.start(appconfig, **{missing: "zzz9999"}), "ResourceNotFoundException", 404
    )
    assert "zzz9999" in message


@pytest.mark.parametrize(
    "key",
    [
        None,
        "alias/no-such-key",
        "arn:aws:kms:eu-west-1:123456789012:key/nope",
        "alias/aws/secretsmanager",
    ],
)
def test_deploying_a_secret_needs_a_customer_managed_key_that_exists(
    appconfig: Any, world: World, key: str | None
) -> None:
    message = expect_error(
        lambda: world.start(appconfig, KmsKeyIdentifier=key), "BadRequestException", 400
    )
    assert "KmsKeyIdentifier" in message or "KMS key" in message


def test_deploying_a_secret_version_that_does_not_exist_is_a_bad_request(
    appconfig: Any, world: World
) -> None:
    message = expect_error(
        lambda: world.start(appconfig, ConfigurationVersion=str(uuid.uuid4())),
        "BadRequestException",
        400,
    )
    assert world.secret in message


def test_deploying_a_profile_whose_secret_does_not_exist_is_a_bad_request(
    appconfig: Any, world: World
) -> None:
    profile = appconfig.create_configuration_profile(
        ApplicationId=world.application,
        Name="dangling",
        LocationUri="secretsmanager://berth/never-created",
        RetrievalRoleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/retrieval",
    )["Id"]
    message = expect_error(
        lambda: world.start(appconfig, ConfigurationProfileId=profile), "BadRequestException", 400
    )
    assert "berth/never-created" in message


def test_a_hosted_configuration_deploys_by_version_number(appconfig: Any, world: World) -> None:
    profile = appconfig.create_configuration_profile(
        ApplicationId=world.application, Name="flags", LocationUri="hosted"
    )["Id"]
    version = appconfig.create_hosted_configuration_version(
        ApplicationId=world.application,
        ConfigurationProfileId=profile,
        Content=json.dumps({"on": True}).encode(),
        ContentType="application/json",
    )["VersionNumber"]
    started = world.start(
        appconfig,
        ConfigurationProfileId=profile,
        ConfigurationVersion=str(version),
        KmsKeyIdentifier=None,
    )
    assert (started["ConfigurationName"], started["State"]) == ("flags", "COMPLETE")
    expect_error(
        lambda: world.start(appconfig, ConfigurationProfileId=profile, ConfigurationVersion="99"),
        "ResourceNotFoundException",
        404,
    )


def test_latest_deployment_number_must_be_the_latest(appconfig: Any, world: World) -> None:
    world.start(appconfig, LatestDeploymentNumber=0)
    expect_error(lambda: world.start(appconfig, LatestDeploymentNumber=0), "ConflictException", 409)
    assert world.start(appconfig, LatestDeploymentNumber=1)["DeploymentNumber"] == 2


def test_get_and_list_deployments(appconfig: Any, world: World) -> None:
    for _ in range(3):
        world.start(appconfig)
    got = appconfig.get_deployment(
        ApplicationId=world.application, EnvironmentId=world.environment, DeploymentNumber=2
    )
    assert (got["DeploymentNumber"], got["State"], got["ConfigurationVersion"]) == (
        2,
        "COMPLETE",
        world.version,
    )
    # Descending deployment number order (API reference, ListDeployments).
    pages = appconfig.get_paginator("list_deployments").paginate(
        ApplicationId=world.application,
        EnvironmentId=world.environment,
        PaginationConfig={"PageSize": 2},
    )
    summaries = [item for page in pages for item in page["Items"]]
    assert [item["DeploymentNumber"] for item in summaries] == [3, 2, 1]
    assert set(summaries[0]) == {
        "DeploymentNumber",
        "ConfigurationName",
        "ConfigurationVersion",
        "DeploymentDurationInMinutes",
        "GrowthType",
        "GrowthFactor",
        "FinalBakeTimeInMinutes",
        "State",
        "PercentageComplete",
        "StartedAt",
        "CompletedAt",
    }
    for number in (0, 4):
        expect_error(
            lambda n=number: appconfig.get_deployment(
                ApplicationId=world.application, EnvironmentId=world.environment, DeploymentNumber=n
            ),
            "ResourceNotFoundException",
            404,
        )
    expect_error(
        lambda: appconfig.list_deployments(
            ApplicationId=world.application, EnvironmentId="zzz9999"
        ),
        "ResourceNotFoundException",
        404,
    )


def _stop(appconfig: Any, world: World, number: int, **extra: Any) -> dict[str, Any]:
    return dict(
        appconfig.stop_deployment(
            ApplicationId=world.application,
            EnvironmentId=world.environment,
            DeploymentNumber=number,
            **extra,
        )
    )


def test_stopping_a_deployment_in_progress_rolls_it_back(appconfig: Any, world: World) -> None:
    number = world.start(appconfig, DeploymentStrategyId=_strategy(appconfig, 10, 0))[
        "DeploymentNumber"
    ]
    stopped = _stop(appconfig, world, number)
    assert stopped["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert stopped["State"] == "ROLLED_BACK"
    assert [event["EventType"] for event in stopped["EventLog"][:2]] == [
        "ROLLBACK_COMPLETED",
        "ROLLBACK_STARTED",
    ]
    assert _environment_state(appconfig, world) == "ROLLED_BACK"
    expect_error(lambda: _stop(appconfig, world, number), "BadRequestException", 400)
    # Rolled back, the environment takes the next deployment.
    assert world.start(appconfig)["DeploymentNumber"] == number + 1


def test_stopping_a_baking_deployment_rolls_it_back(appconfig: Any, world: World) -> None:
    number = world.start(appconfig, DeploymentStrategyId=_strategy(appconfig, 0, 10))[
        "DeploymentNumber"
    ]
    assert _stop(appconfig, world, number, AllowRevert=True)["State"] == "ROLLED_BACK"


def test_a_complete_deployment_is_reverted_only_with_allow_revert(
    appconfig: Any, world: World
) -> None:
    first = world.start(appconfig)["DeploymentNumber"]
    second = world.start(appconfig)["DeploymentNumber"]
    expect_error(lambda: _stop(appconfig, world, second), "BadRequestException", 400)
    expect_error(
        lambda: _stop(appconfig, world, first, AllowRevert=True), "BadRequestException", 400
    )
    reverted = _stop(appconfig, world, second, AllowRevert=True)
    assert reverted["State"] == "REVERTED"
    assert reverted["EventLog"][0]["EventType"] == "REVERT_COMPLETED"
    assert _environment_state(appconfig, world) == "REVERTED"
    expect_error(
        lambda: _stop(appconfig, world, second, AllowRevert=True), "BadRequestException", 400
    )
    expect_error(lambda: _stop(appconfig, world, 99), "ResourceNotFoundException", 404)


# --- tags ---------------------------------------------------------------------------------


def test_tags_on_environments_strategies_and_deployments(appconfig: Any, world: World) -> None:
    environment = appconfig.create_environment(
        ApplicationId=world.application, Name="tagged", Tags={"team": "platform"}
    )["Id"]
    strategy = appconfig.create_deployment_strategy(
        Name="tagged", DeploymentDurationInMinutes=0, GrowthFactor=100, Tags={"team": "platform"}
    )["Id"]
    number = world.start(appconfig, EnvironmentId=environment, Tags={"team": "platform"})[
        "DeploymentNumber"
    ]
    prefix = f"arn:aws:appconfig:{REGION}:{MOTO_ACCOUNT}:"
    environment_arn = f"{prefix}application/{world.application}/environment/{environment}"
    for arn in (
        environment_arn,
        f"{prefix}deploymentstrategy/{strategy}",
        f"{environment_arn}/deployment/{number}",
    ):
        assert appconfig.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "platform"}
        tagged = appconfig.tag_resource(ResourceArn=arn, Tags={"cost": "ci"})
        assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
        untagged = appconfig.untag_resource(ResourceArn=arn, TagKeys=["team"])
        assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert appconfig.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"cost": "ci"}


def test_tags_of_an_environment_that_does_not_exist_are_not_found(
    appconfig: Any, world: World
) -> None:
    arn = f"arn:aws:appconfig:{REGION}:{MOTO_ACCOUNT}:application/{world.application}/environment/zzz9999"
    for call in (
        lambda: appconfig.list_tags_for_resource(ResourceArn=arn),
        lambda: appconfig.tag_resource(ResourceArn=arn, Tags={"a": "b"}),
        lambda: appconfig.untag_resource(ResourceArn=arn, TagKeys=["a"]),
    ):
        expect_error(call, "ResourceNotFoundException", 404)
    # An ARN without the account (what the aws provider builds with skip_requesting_account_id).
    accountless = f"arn:aws:appconfig:{REGION}::application/{world.application}/environment/{world.environment}"
    expect_error(
        lambda: appconfig.list_tags_for_resource(ResourceArn=accountless),
        "ResourceNotFoundException",
        404,
    )


def test_environments_go_with_their_application(appconfig: Any, world: World) -> None:
    arn = (
        f"arn:aws:appconfig:{REGION}:{MOTO_ACCOUNT}:application/{world.application}"
        f"/environment/{world.environment}"
    )
    assert appconfig.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
    appconfig.delete_application(ApplicationId=world.application)  # moto's own operation
    for call in (
        lambda: appconfig.get_environment(
            ApplicationId=world.application, EnvironmentId=world.environment
        ),
        lambda: appconfig.list_tags_for_resource(ResourceArn=arn),
    ):
        expect_error(call, "ResourceNotFoundException", 404)


def test_application_tags_are_still_motos(appconfig: Any) -> None:
    application = appconfig.create_application(Name=_unique("tags"), Tags={"owner": "moto"})["Id"]
    arn = f"arn:aws:appconfig:{REGION}:{MOTO_ACCOUNT}:application/{application}"
    assert appconfig.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "moto"}


# --- accounts, regions, reset -------------------------------------------------------------


def test_resources_live_in_the_account_moto_derives_from_assumed_role_credentials(
    client: ClientFactory, appconfig: Any
) -> None:
    assumed = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/deployer", RoleSessionName="berth-test"
    )["Credentials"]
    as_deployer = client(
        "appconfig",
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    )
    application = as_deployer.create_application(Name=_unique("other-account"))["Id"]
    environment = as_deployer.create_environment(ApplicationId=application, Name="uat")["Id"]
    strategy = _strategy(as_deployer, 0, 0)
    assert application in [item["Id"] for item in as_deployer.list_applications()["Items"]]
    assert (
        as_deployer.list_tags_for_resource(
            ResourceArn=f"arn:aws:appconfig:{REGION}:{OTHER_ACCOUNT}:application/{application}"
            f"/environment/{environment}"
        )["Tags"]
        == {}
    )
    # The default account sees none of it.
    assert application not in [item["Id"] for item in appconfig.list_applications()["Items"]]
    expect_error(
        lambda: appconfig.create_environment(ApplicationId=application, Name="uat"),
        "ResourceNotFoundException",
        404,
    )
    expect_error(
        lambda: appconfig.get_deployment_strategy(DeploymentStrategyId=strategy),
        "ResourceNotFoundException",
        404,
    )


def test_resources_live_per_region(client: ClientFactory, appconfig: Any, world: World) -> None:
    elsewhere = client("appconfig", region_name="us-east-2")
    expect_error(
        lambda: elsewhere.get_environment(
            ApplicationId=world.application, EnvironmentId=world.environment
        ),
        "ResourceNotFoundException",
        404,
    )
    expect_error(
        lambda: elsewhere.get_deployment_strategy(DeploymentStrategyId=world.strategy),
        "ResourceNotFoundException",
        404,
    )


def test_motos_reset_forgets_what_the_emulator_added(tmp_path: Path) -> None:
    with MotoServer(log_path=tmp_path / "emulator.log") as server:
        appconfig = boto3.client(
            "appconfig",
            endpoint_url=server.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        strategy = _strategy(appconfig, 0, 0)
        request = urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
        expect_error(
            lambda: appconfig.get_deployment_strategy(DeploymentStrategyId=strategy),
            "ResourceNotFoundException",
            404,
        )


# --- what `berth secret put` calls --------------------------------------------------------


def test_berth_secret_put_finds_its_resources_by_name_and_deploys_the_version(
    client: ClientFactory, appconfig: Any
) -> None:
    """`berth.commands.secret.start_deployment` (lists applications, environments, profiles and
    strategies, then StartDeployment with the VersionId and the key) against the emulator."""
    names = secret_app_config_names(_unique("berth-put"), "uat", "coralogix-private-key")
    key = client("kms").create_key()["KeyMetadata"]["Arn"]
    version = client("secretsmanager").create_secret(
        Name=names.secret, KmsKeyId=key, SecretString="value"
    )["VersionId"]
    application = appconfig.create_application(Name=names.application)["Id"]
    environment = appconfig.create_environment(ApplicationId=application, Name=names.environment)[
        "Id"
    ]
    appconfig.create_configuration_profile(
        ApplicationId=application,
        Name=names.profile,
        LocationUri=f"secretsmanager://{names.secret}",
        RetrievalRoleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/{names.retrieval_role}",
        Type="AWS.Freeform",
    )
    appconfig.create_deployment_strategy(
        Name=names.deployment_strategy,
        DeploymentDurationInMinutes=0,
        FinalBakeTimeInMinutes=0,
        GrowthFactor=100,
        GrowthType="LINEAR",
        ReplicateTo="NONE",
    )
    number = start_deployment(appconfig, names, version, key)
    deployed = appconfig.get_deployment(
        ApplicationId=application, EnvironmentId=environment, DeploymentNumber=number
    )
    assert (number, deployed["State"], deployed["ConfigurationVersion"]) == (1, "COMPLETE", version)
    assert deployed["Description"] == f"berth secret put: {names.secret} version {version}"
