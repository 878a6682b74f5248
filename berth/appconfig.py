"""AppConfig as `berth` reads it: a secret's application, environment and profile by name, and
whether the secret's current value is what AppConfig serves.

The names come from `berth_core.naming` (the ones SecretAppConfig created); the AppConfig APIs take
ids, so they are looked up by listing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from berth_core.naming import SecretAppConfigNames


class NotFoundError(LookupError):
    """An AppConfig resource of the secret does not exist (yet)."""


@dataclass(frozen=True)
class AppConfigIds:
    application: str
    environment: str
    profile: str


@dataclass(frozen=True)
class Rollout:
    """Whether the secret's current version is what AppConfig serves."""

    # The secret's AWSCURRENT VersionId; None when no value was ever stored.
    current_version: str | None
    # The newest deployment of the profile: (number, configuration version, state), or None.
    latest_deployment: tuple[int, str, str] | None

    @property
    def deployed(self) -> bool:
        return (
            self.current_version is not None
            and self.latest_deployment is not None
            and self.latest_deployment[1] == self.current_version
            and self.latest_deployment[2] == "COMPLETE"
        )


def pages(client: Any, operation: str, key: str, **kwargs: str) -> Iterable[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def find_id(items: Iterable[dict[str, Any]], name: str, kind: str) -> str:
    for item in items:
        if item.get("Name") == name:
            return str(item["Id"])
    raise NotFoundError(f"AppConfig {kind} {name!r} not found")


def find_ids(appconfig: Any, names: SecretAppConfigNames) -> AppConfigIds:
    """The ids of the secret's AppConfig application, environment and profile."""
    application = find_id(
        pages(appconfig, "list_applications", "Items"), names.application, "application"
    )
    return AppConfigIds(
        application=application,
        environment=find_id(
            pages(appconfig, "list_environments", "Items", ApplicationId=application),
            names.environment,
            "environment",
        ),
        profile=find_id(
            pages(appconfig, "list_configuration_profiles", "Items", ApplicationId=application),
            names.profile,
            "configuration profile",
        ),
    )


def find_strategy_id(appconfig: Any, names: SecretAppConfigNames) -> str:
    return find_id(
        pages(appconfig, "list_deployment_strategies", "Items"),
        names.deployment_strategy,
        "deployment strategy",
    )


def current_version(secretsmanager: Any, names: SecretAppConfigNames) -> str | None:
    """The secret's AWSCURRENT VersionId, None when it has no value yet."""
    stages = secretsmanager.describe_secret(SecretId=names.secret).get("VersionIdsToStages", {})
    current = [version for version, labels in stages.items() if "AWSCURRENT" in labels]
    return current[0] if current else None


def rollout(appconfig: Any, secretsmanager: Any, names: SecretAppConfigNames) -> Rollout:
    """The secret's current version and the newest AppConfig deployment of its profile."""
    ids = find_ids(appconfig, names)
    deployments = [
        item
        for item in pages(
            appconfig,
            "list_deployments",
            "Items",
            ApplicationId=ids.application,
            EnvironmentId=ids.environment,
        )
        if item.get("ConfigurationName") == names.profile
    ]
    latest = max(deployments, key=lambda item: int(item["DeploymentNumber"]), default=None)
    return Rollout(
        current_version=current_version(secretsmanager, names),
        latest_deployment=(
            int(latest["DeploymentNumber"]),
            str(latest.get("ConfigurationVersion", "")),
            str(latest.get("State", "")),
        )
        if latest
        else None,
    )
