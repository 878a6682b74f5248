"""The AppConfig operations moto lacks: environments, deployment strategies, deployments, tags
on those, and ListApplications.

Applications, configuration profiles and hosted configuration versions stay moto's; this module
reads them from moto's own backend (`MotoLookups`), so an environment can only be created under
an application moto holds, and a deployment only of a profile moto holds. Resources live per
account and region, the account being the one moto derives for the same request (so
credentials from sts:AssumeRole land in the role's account).

Behaviour follows the AWS AppConfig API reference: status codes and members from botocore's
model (`berth.emulator.rest`); ResourceNotFoundException for a missing application, environment,
strategy, profile or deployment; ConflictException for StartDeployment while another
deployment of the environment is in progress (and for DeleteEnvironment then); BadRequest for
input the model rejects. The predefined strategies (`AppConfig.AllAtOnce`, ...) of the user
guide are listed in every account and cannot be changed or deleted.

StartDeployment of a `secretsmanager://NAME` profile needs a KmsKeyIdentifier naming a
customer-managed key (user guide, "Deploying a configuration") and checks that the secret and the
deployed version (its VersionId) exist in moto's Secrets Manager; of a `hosted` profile, that the
version number exists. Other locations (S3, SSM) are not checked.

Guessed where AWS's documentation is silent: the error messages; BadRequestException for a missing
or unreadable secret version and for an unknown or AWS-managed key; ResourceNotFoundException
for a missing hosted version; ConflictException for a LatestDeploymentNumber that is not the
latest; ReplicateTo defaults to NONE; environment names are not required to be unique.
"""

from __future__ import annotations

import datetime
import functools
import secrets
import string
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import UnknownRegionError
from botocore.model import ServiceModel
from werkzeug.wrappers import Request, Response

from berth.emulator import moto_internals as names
from berth.emulator.moto_internals import MotoInternals
from berth.emulator.rest import (
    ApiError,
    Route,
    error_response,
    find_route,
    json_response,
    parse_input,
    routes,
    timestamp,
)
from berth.emulator.rollout import IN_PROGRESS, Ending, Progress, Rollout, progress, stop

SERVICE = "appconfig"
# Operations answered here; every other AppConfig request goes to moto unchanged.
OPERATIONS = (
    "ListApplications",
    "CreateEnvironment",
    "GetEnvironment",
    "UpdateEnvironment",
    "DeleteEnvironment",
    "ListEnvironments",
    "CreateDeploymentStrategy",
    "GetDeploymentStrategy",
    "UpdateDeploymentStrategy",
    "DeleteDeploymentStrategy",
    "ListDeploymentStrategies",
    "StartDeployment",
    "GetDeployment",
    "ListDeployments",
    "StopDeployment",
)
# Answered here only for the ARN of an environment, deployment strategy or deployment.
TAG_OPERATIONS = ("TagResource", "UntagResource", "ListTagsForResource")

# AWS AppConfig user guide, "Using predefined deployment strategies".
PREDEFINED_STRATEGIES: Mapping[str, Rollout] = {
    "AppConfig.Linear20PercentEvery6Minutes": Rollout(30, 30, "LINEAR", 20.0),
    "AppConfig.Canary10Percent20Minutes": Rollout(20, 10, "EXPONENTIAL", 10.0),
    "AppConfig.AllAtOnce": Rollout(0, 10, "LINEAR", 100.0),
    "AppConfig.Linear50PercentEvery30Seconds": Rollout(1, 1, "LINEAR", 50.0),
}
DEFAULT_PAGE_SIZE = 50
_ID_ALPHABET = string.ascii_lowercase + string.digits


def _not_found(kind: str, name: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"{kind} {name} not found", ResourceName=name)


@dataclass
class Deployment:
    number: int
    application_id: str
    environment_id: str
    strategy_id: str
    rollout: Rollout
    profile_id: str
    configuration_name: str
    location_uri: str
    version: str
    description: str | None
    kms_key_identifier: str | None
    kms_key_arn: str | None
    started_at: datetime.datetime
    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    ending: Ending | None = None

    def at(self, now: datetime.datetime) -> Progress:
        return progress(self.rollout, self.started_at, self.ending, now)

    def summary(self, now: datetime.datetime) -> dict[str, Any]:
        """The DeploymentSummary shape (ListDeployments)."""
        seen = self.at(now)
        return _without_none(
            {
                "DeploymentNumber": self.number,
                "ConfigurationName": self.configuration_name,
                "ConfigurationVersion": self.version,
                "DeploymentDurationInMinutes": self.rollout.duration_minutes,
                "GrowthType": self.rollout.growth_type,
                "GrowthFactor": self.rollout.growth_factor,
                "FinalBakeTimeInMinutes": self.rollout.bake_minutes,
                "State": seen.state,
                "PercentageComplete": seen.percentage,
                "StartedAt": timestamp(self.started_at),
                "CompletedAt": timestamp(seen.completed_at) if seen.completed_at else None,
            }
        )

    def describe(self, now: datetime.datetime) -> dict[str, Any]:
        """The Deployment shape (StartDeployment, GetDeployment, StopDeployment)."""
        seen = self.at(now)
        return _without_none(
            {
                **self.summary(now),
                "ApplicationId": self.application_id,
                "EnvironmentId": self.environment_id,
                "DeploymentStrategyId": self.strategy_id,
                "ConfigurationProfileId": self.profile_id,
                "ConfigurationLocationUri": self.location_uri,
                "Description": self.description,
                "EventLog": [
                    {
                        "EventType": event.event_type,
                        "TriggeredBy": event.triggered_by,
                        "Description": event.description,
                        "OccurredAt": timestamp(event.at),
                    }
                    for event in reversed(seen.events)
                ],
                "AppliedExtensions": [],
                "KmsKeyArn": self.kms_key_arn,
                "KmsKeyIdentifier": self.kms_key_identifier,
            }
        )


@dataclass
class Environment:
    application_id: str
    id: str
    name: str
    description: str | None
    monitors: list[dict[str, str]] | None
    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    deployments: list[Deployment] = field(default_factory=list)

    def state(self, now: datetime.datetime) -> str:
        """READY_FOR_DEPLOYMENT, or what the latest deployment makes of the environment."""
        if not self.deployments:
            return "READY_FOR_DEPLOYMENT"
        latest = self.deployments[-1].at(now).state
        if latest in IN_PROGRESS:
            return "DEPLOYING"
        if latest in ("ROLLED_BACK", "REVERTED"):
            return latest
        return "READY_FOR_DEPLOYMENT"

    def in_progress(self, now: datetime.datetime) -> Deployment | None:
        for deployment in self.deployments:
            if deployment.at(now).state in IN_PROGRESS:
                return deployment
        return None

    def describe(self, now: datetime.datetime) -> dict[str, Any]:
        return _without_none(
            {
                "ApplicationId": self.application_id,
                "Id": self.id,
                "Name": self.name,
                "Description": self.description,
                "State": self.state(now),
                "Monitors": self.monitors,
            }
        )


@dataclass
class Strategy:
    id: str
    name: str
    description: str | None
    rollout: Rollout
    replicate_to: str
    arn: str | None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def predefined(self) -> bool:
        return self.id in PREDEFINED_STRATEGIES

    def describe(self) -> dict[str, Any]:
        return _without_none(
            {
                "Id": self.id,
                "Name": self.name,
                "Description": self.description,
                "DeploymentDurationInMinutes": self.rollout.duration_minutes,
                "GrowthType": self.rollout.growth_type,
                "GrowthFactor": self.rollout.growth_factor,
                "FinalBakeTimeInMinutes": self.rollout.bake_minutes,
                "ReplicateTo": self.replicate_to,
            }
        )


@dataclass
class AccountRegion:
    """Everything of one account in one region."""

    environments: dict[tuple[str, str], Environment] = field(default_factory=dict)
    strategies: dict[str, Strategy] = field(default_factory=dict)


def _without_none(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}


def _page(items: Sequence[Any], params: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    """One page of `items` and the token of the next (an offset; opaque to clients)."""
    start = 0
    token = params.get("NextToken")
    if token is not None:
        if not token.isdigit() or int(token) > len(items):
            raise ApiError("BadRequestException", f"NextToken: {token!r} is not a valid token")
        start = int(token)
    end = start + int(params.get("MaxResults", DEFAULT_PAGE_SIZE))
    return list(items[start:end]), (str(end) if end < len(items) else None)


@functools.lru_cache(maxsize=64)
def partition_of(region: str) -> str:
    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError:
        return "aws"


class MotoLookups:
    """Reads of moto's own in-process AppConfig, Secrets Manager and KMS state."""

    def __init__(self, internals: MotoInternals) -> None:
        self._appconfig = internals[names.APPCONFIG_BACKENDS]
        self._secretsmanager = internals[names.SECRETSMANAGER_BACKENDS]
        self._kms = internals[names.KMS_BACKENDS]
        self._error: type[Exception] = internals[names.JSON_REST_ERROR]

    def applications(self, account: str, region: str) -> list[dict[str, Any]]:
        backend = self._appconfig[account][region]
        return [_without_none(app.to_json()) for app in list(backend.applications.values())]

    def application_exists(self, account: str, region: str, application_id: str) -> bool:
        try:
            self._appconfig[account][region].get_application(application_id)
        except self._error:
            return False
        return True

    def profile(
        self, account: str, region: str, application_id: str, profile_id: str
    ) -> dict[str, Any] | None:
        try:
            found = self._appconfig[account][region].get_configuration_profile(
                application_id, profile_id
            )
        except self._error:
            return None
        return dict(found.to_json())

    def hosted_version_exists(
        self, account: str, region: str, application_id: str, profile_id: str, number: int
    ) -> bool:
        try:
            self._appconfig[account][region].get_hosted_configuration_version(
                application_id, profile_id, number
            )
        except self._error:
            return False
        return True

    def secret_version_problem(
        self, account: str, region: str, secret_id: str, version_id: str
    ) -> str | None:
        """Why version `version_id` of secret `secret_id` cannot be read, or None.

        A real deployment reads the secret (GetSecretValue through the retrieval role), so this
        reads it through moto's backend too."""
        try:
            self._secretsmanager[account][region].get_secret_value(secret_id, version_id, None)
        except self._error as error:
            return f"{getattr(error, 'error_type', '')}: {getattr(error, 'message', error)}"
        return None

    def kms_key(self, account: str, region: str, identifier: str) -> dict[str, Any] | None:
        """KeyMetadata of a key given by ID, ARN, alias or alias ARN; None when unknown."""
        try:
            key = self._kms[account][region].describe_key(identifier)
        # moto's describe_key raises KeyError for an unknown key and AttributeError for an
        # unknown alias (its own responses layer checks before calling it).
        except (KeyError, AttributeError):
            return None
        return dict(key.to_dict()["KeyMetadata"])


@dataclass(frozen=True)
class Call:
    """One request to an operation answered here."""

    operation: str
    account: str
    region: str
    params: dict[str, Any]
    now: datetime.datetime

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:{SERVICE}:{self.region}:{self.account}:{resource}"


class AppConfigEmulator:
    """The added AppConfig operations, with their state (in memory, per account and region)."""

    def __init__(
        self,
        internals: MotoInternals,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.model: ServiceModel = botocore.session.get_session().get_service_model(SERVICE)
        self.moto = MotoLookups(internals)
        self._clock = clock
        self._routes: tuple[Route, ...] = routes(self.model, OPERATIONS)
        self._tag_routes: tuple[Route, ...] = routes(self.model, TAG_OPERATIONS)
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], AccountRegion] = {}
        self._handlers: dict[str, Callable[[Call], dict[str, Any] | None]] = {
            "ListApplications": self._list_applications,
            "CreateEnvironment": self._create_environment,
            "GetEnvironment": self._get_environment,
            "UpdateEnvironment": self._update_environment,
            "DeleteEnvironment": self._delete_environment,
            "ListEnvironments": self._list_environments,
            "CreateDeploymentStrategy": self._create_deployment_strategy,
            "GetDeploymentStrategy": self._get_deployment_strategy,
            "UpdateDeploymentStrategy": self._update_deployment_strategy,
            "DeleteDeploymentStrategy": self._delete_deployment_strategy,
            "ListDeploymentStrategies": self._list_deployment_strategies,
            "StartDeployment": self._start_deployment,
            "GetDeployment": self._get_deployment,
            "ListDeployments": self._list_deployments,
            "StopDeployment": self._stop_deployment,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags_for_resource,
        }
        assert set(self._handlers) == {*OPERATIONS, *TAG_OPERATIONS}

    def reset(self) -> None:
        """Forget everything (moto's own reset, `POST /moto-api/reset`, calls this)."""
        with self._lock:
            self._state.clear()

    def handle(self, request: Request, account: str, region: str) -> Response | None:
        """The answer to an AppConfig request this module serves; None to leave it to moto."""
        raw_path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
        raw_path = raw_path.split("?")[0] or request.path
        found = find_route(self._routes, request.method, raw_path)
        if found is None:
            found = find_route(self._tag_routes, request.method, raw_path)
            if found is None or not self._is_ours(found[1]["ResourceArn"]):
                return None
        route, labels = found
        try:
            params = parse_input(
                route.operation,
                labels,
                request.query_string.decode("latin-1"),
                {name.lower(): value for name, value in request.headers.items()},
                request.get_data(),
            )
            call = Call(route.operation.name, account, region, params, self._clock())
            with self._lock:
                body = self._handlers[call.operation](call)
        except ApiError as error:
            return error_response(self.model, error)
        except Exception as error:  # a bug, or moto changed under us: say so, as AWS would
            traceback.print_exc()
            failure = ApiError("InternalServerException", f"{type(error).__name__}: {error}")
            return error_response(self.model, failure)
        return json_response(route.operation, body)

    # --- plumbing ---------------------------------------------------------------------------

    def _scope(self, call: Call) -> AccountRegion:
        return self._state.setdefault((call.account, call.region), AccountRegion())

    def _new_id(self, taken: Iterable[str]) -> str:
        used = set(taken)
        while True:
            candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))
            if candidate not in used:
                return candidate

    def _application(self, call: Call) -> str:
        application_id = str(call.params["ApplicationId"])
        if not self.moto.application_exists(call.account, call.region, application_id):
            raise _not_found("Application", application_id)
        return application_id

    def _environment(self, call: Call) -> Environment:
        application_id = self._application(call)
        environment_id = str(call.params["EnvironmentId"])
        found = self._scope(call).environments.get((application_id, environment_id))
        if found is None:
            raise _not_found("Environment", environment_id)
        return found

    def _strategies(self, call: Call) -> dict[str, Strategy]:
        """The account's strategies, the predefined ones first."""
        predefined = {
            strategy_id: Strategy(strategy_id, strategy_id, None, rollout, "NONE", None)
            for strategy_id, rollout in PREDEFINED_STRATEGIES.items()
        }
        return {**predefined, **self._scope(call).strategies}

    def _strategy(self, call: Call, strategy_id: str) -> Strategy:
        found = self._strategies(call).get(strategy_id)
        if found is None:
            raise _not_found("Deployment strategy", strategy_id)
        return found

    def _deployment(self, call: Call) -> tuple[Environment, Deployment]:
        environment = self._environment(call)
        number = int(call.params["DeploymentNumber"])
        for deployment in environment.deployments:
            if deployment.number == number:
                return environment, deployment
        raise _not_found("Deployment", str(number))

    # --- applications -----------------------------------------------------------------------

    def _list_applications(self, call: Call) -> dict[str, Any]:
        items, token = _page(self.moto.applications(call.account, call.region), call.params)
        return _without_none({"Items": items, "NextToken": token})

    # --- environments -----------------------------------------------------------------------

    def _create_environment(self, call: Call) -> dict[str, Any]:
        application_id = self._application(call)
        scope = self._scope(call)
        environment_id = self._new_id(key[1] for key in scope.environments)
        environment = Environment(
            application_id=application_id,
            id=environment_id,
            name=call.params["Name"],
            description=call.params.get("Description"),
            monitors=call.params.get("Monitors"),
            arn=call.arn(f"application/{application_id}/environment/{environment_id}"),
            tags=dict(call.params.get("Tags") or {}),
        )
        scope.environments[(application_id, environment_id)] = environment
        return environment.describe(call.now)

    def _get_environment(self, call: Call) -> dict[str, Any]:
        return self._environment(call).describe(call.now)

    def _update_environment(self, call: Call) -> dict[str, Any]:
        environment = self._environment(call)
        if "Name" in call.params:
            environment.name = call.params["Name"]
        if "Description" in call.params:
            environment.description = call.params["Description"]
        if "Monitors" in call.params:
            environment.monitors = call.params["Monitors"]
        return environment.describe(call.now)

    def _delete_environment(self, call: Call) -> None:
        environment = self._environment(call)
        if environment.in_progress(call.now) is not None:
            raise ApiError(
                "ConflictException",
                f"Environment {environment.id} has a deployment in progress; stop it first",
            )
        del self._scope(call).environments[(environment.application_id, environment.id)]

    def _list_environments(self, call: Call) -> dict[str, Any]:
        application_id = self._application(call)
        mine = [
            environment.describe(call.now)
            for environment in self._scope(call).environments.values()
            if environment.application_id == application_id
        ]
        items, token = _page(mine, call.params)
        return _without_none({"Items": items, "NextToken": token})

    # --- deployment strategies --------------------------------------------------------------

    def _create_deployment_strategy(self, call: Call) -> dict[str, Any]:
        scope = self._scope(call)
        strategy_id = self._new_id(scope.strategies)
        strategy = Strategy(
            id=strategy_id,
            name=call.params["Name"],
            description=call.params.get("Description"),
            rollout=Rollout(
                duration_minutes=call.params["DeploymentDurationInMinutes"],
                bake_minutes=call.params.get("FinalBakeTimeInMinutes", 0),
                growth_type=call.params.get("GrowthType", "LINEAR"),
                growth_factor=float(call.params["GrowthFactor"]),
            ),
            replicate_to=call.params.get("ReplicateTo", "NONE"),
            arn=call.arn(f"deploymentstrategy/{strategy_id}"),
            tags=dict(call.params.get("Tags") or {}),
        )
        scope.strategies[strategy_id] = strategy
        return strategy.describe()

    def _get_deployment_strategy(self, call: Call) -> dict[str, Any]:
        return self._strategy(call, call.params["DeploymentStrategyId"]).describe()

    def _own_strategy(self, call: Call) -> Strategy:
        strategy = self._strategy(call, call.params["DeploymentStrategyId"])
        if strategy.predefined:
            raise ApiError(
                "BadRequestException", f"{strategy.id} is predefined and cannot be changed"
            )
        return strategy

    def _update_deployment_strategy(self, call: Call) -> dict[str, Any]:
        strategy = self._own_strategy(call)
        rollout = strategy.rollout
        strategy.rollout = Rollout(
            duration_minutes=call.params.get(
                "DeploymentDurationInMinutes", rollout.duration_minutes
            ),
            bake_minutes=call.params.get("FinalBakeTimeInMinutes", rollout.bake_minutes),
            growth_type=call.params.get("GrowthType", rollout.growth_type),
            growth_factor=float(call.params.get("GrowthFactor", rollout.growth_factor)),
        )
        if "Description" in call.params:
            strategy.description = call.params["Description"]
        return strategy.describe()

    def _delete_deployment_strategy(self, call: Call) -> None:
        strategy = self._own_strategy(call)
        del self._scope(call).strategies[strategy.id]

    def _list_deployment_strategies(self, call: Call) -> dict[str, Any]:
        everything = [strategy.describe() for strategy in self._strategies(call).values()]
        items, token = _page(everything, call.params)
        return _without_none({"Items": items, "NextToken": token})

    # --- deployments ------------------------------------------------------------------------

    def _start_deployment(self, call: Call) -> dict[str, Any]:
        environment = self._environment(call)
        strategy = self._strategy(call, call.params["DeploymentStrategyId"])
        profile_id = call.params["ConfigurationProfileId"]
        profile = self.moto.profile(
            call.account, call.region, environment.application_id, profile_id
        )
        if profile is None:
            raise _not_found("Configuration profile", profile_id)
        running = environment.in_progress(call.now)
        if running is not None:
            raise ApiError(
                "ConflictException",
                f"Deployment #{running.number} to environment {environment.id} is in progress",
            )
        latest = environment.deployments[-1].number if environment.deployments else 0
        expected = call.params.get("LatestDeploymentNumber")
        if expected is not None and expected != latest:
            raise ApiError(
                "ConflictException",
                f"LatestDeploymentNumber {expected} is not the latest deployment ({latest})",
            )
        location = str(profile.get("LocationUri", ""))
        version = str(call.params["ConfigurationVersion"])
        key = self._check_location(call, environment, profile_id, location, version)
        number = latest + 1
        deployment = Deployment(
            number=number,
            application_id=environment.application_id,
            environment_id=environment.id,
            strategy_id=strategy.id,
            rollout=strategy.rollout,
            profile_id=profile_id,
            configuration_name=str(profile.get("Name", "")),
            location_uri=location,
            version=version,
            description=call.params.get("Description"),
            kms_key_identifier=call.params.get("KmsKeyIdentifier"),
            kms_key_arn=key["Arn"] if key else None,
            started_at=call.now,
            arn=call.arn(
                f"application/{environment.application_id}/environment/{environment.id}"
                f"/deployment/{number}"
            ),
            tags=dict(call.params.get("Tags") or {}),
        )
        environment.deployments.append(deployment)
        return deployment.describe(call.now)

    def _check_location(
        self, call: Call, environment: Environment, profile_id: str, location: str, version: str
    ) -> dict[str, Any] | None:
        """Check the configuration a deployment names; the KMS key's metadata, if one is named."""
        identifier = call.params.get("KmsKeyIdentifier")
        key = None
        if identifier is not None:
            key = self.moto.kms_key(call.account, call.region, identifier)
            if key is None:
                raise ApiError("BadRequestException", f"KMS key {identifier} not found")
            # moto reports every key as CUSTOMER, AWS managed ones too: their reserved
            # `alias/aws/` names tell them apart.
            if key.get("KeyManager") != "CUSTOMER" or identifier.rsplit(":", 1)[-1].startswith(
                "alias/aws/"
            ):
                raise ApiError(
                    "BadRequestException", f"KMS key {identifier} is not a customer managed key"
                )
        if location.startswith("secretsmanager://"):
            secret = location.removeprefix("secretsmanager://")
            if identifier is None:
                raise ApiError(
                    "BadRequestException",
                    "KmsKeyIdentifier: a customer managed key is required to deploy a secret"
                    " stored in Secrets Manager",
                )
            problem = self.moto.secret_version_problem(call.account, call.region, secret, version)
            if problem is not None:
                raise ApiError(
                    "BadRequestException",
                    f"Secret {secret} version {version} cannot be retrieved: {problem}",
                )
        elif location == "hosted" and not (
            version.isdigit()
            and self.moto.hosted_version_exists(
                call.account, call.region, environment.application_id, profile_id, int(version)
            )
        ):
            raise _not_found("Hosted configuration version", version)
        return key

    def _get_deployment(self, call: Call) -> dict[str, Any]:
        return self._deployment(call)[1].describe(call.now)

    def _list_deployments(self, call: Call) -> dict[str, Any]:
        environment = self._environment(call)
        newest_first = [d.summary(call.now) for d in reversed(environment.deployments)]
        items, token = _page(newest_first, call.params)
        return _without_none({"Items": items, "NextToken": token})

    def _stop_deployment(self, call: Call) -> dict[str, Any]:
        environment, deployment = self._deployment(call)
        outcome = stop(
            deployment.rollout,
            deployment.started_at,
            deployment.ending,
            call.now,
            allow_revert=bool(call.params.get("AllowRevert", False)),
            is_latest=deployment is environment.deployments[-1],
        )
        if isinstance(outcome, str):
            raise ApiError("BadRequestException", f"Deployment #{deployment.number}: {outcome}")
        deployment.ending = outcome
        return deployment.describe(call.now)

    # --- tags -------------------------------------------------------------------------------

    @staticmethod
    def _is_ours(arn: str) -> bool:
        """Whether an ARN names an environment, deployment strategy or deployment."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != SERVICE:
            return False
        path = parts[5].split("/")
        return (
            (len(path) == 2 and path[0] == "deploymentstrategy")
            or (len(path) == 4 and path[0] == "application" and path[2] == "environment")
            or (len(path) == 6 and path[0] == "application" and path[4] == "deployment")
        )

    def _tagged(self, call: Call) -> dict[str, str]:
        arn = str(call.params["ResourceArn"])
        scope = self._scope(call)
        # Environments of an application moto has deleted are gone too.
        environments = [
            environment
            for environment in scope.environments.values()
            if self.moto.application_exists(call.account, call.region, environment.application_id)
        ]
        candidates: list[Environment | Strategy | Deployment] = [
            *environments,
            *scope.strategies.values(),
            *(deployment for environment in environments for deployment in environment.deployments),
        ]
        for resource in candidates:
            if resource.arn == arn:
                return resource.tags
        raise _not_found("Resource", arn)

    def _tag_resource(self, call: Call) -> None:
        self._tagged(call).update(call.params["Tags"])

    def _untag_resource(self, call: Call) -> None:
        tags = self._tagged(call)
        for key in call.params["TagKeys"]:
            tags.pop(key, None)

    def _list_tags_for_resource(self, call: Call) -> dict[str, Any]:
        return {"Tags": dict(self._tagged(call))}
