"""How an AppConfig deployment progresses: pure functions of its strategy, start and `now`.

No background thread moves a deployment along: its state, percentage, completion time and
event log are computed from timestamps whenever it is read, following the AWS AppConfig user
guide ("Working with deployment strategies"):

- the configuration reaches `GrowthFactor` percent of the targets at once, then grows in equal
  steps (LINEAR: +G each step; EXPONENTIAL: G*2^N) spread evenly over
  `DeploymentDurationInMinutes`, while the deployment is DEPLOYING;
- when the deployment time has passed, it is BAKING for `FinalBakeTimeInMinutes` (AppConfig
  watches alarms), then COMPLETE; a 0-minute, 0-bake strategy is COMPLETE at once;
- StopDeployment of a deployment in progress rolls it back (ROLLED_BACK); with AllowRevert, a
  COMPLETE deployment is REVERTED, within 72 hours of its completion (API reference,
  StopDeployment).

Where AWS's documentation says nothing, these are guesses: each step lasts duration/steps (the first at
the start); BAKING counts as in progress (StopDeployment rolls it back, StartDeployment
conflicts); the event descriptions are ours.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

DEPLOYING = "DEPLOYING"
BAKING = "BAKING"
COMPLETE = "COMPLETE"
ROLLED_BACK = "ROLLED_BACK"
REVERTED = "REVERTED"
IN_PROGRESS = frozenset({DEPLOYING, BAKING})
# AppConfig only allows a revert within 72 hours of deployment completion (StopDeployment).
REVERT_WINDOW = datetime.timedelta(hours=72)


@dataclass(frozen=True)
class Rollout:
    """A deployment strategy's timing, copied into each deployment when it starts."""

    duration_minutes: int
    bake_minutes: int
    growth_type: str
    growth_factor: float

    def percentages(self) -> list[float]:
        """The percentage of targets after each step, the last one 100."""
        factor = self.growth_factor
        if self.growth_type == "EXPONENTIAL":
            steps = max(1, math.ceil(math.log2(100 / factor)) + 1) if factor < 100 else 1
            return [min(100.0, factor * 2**step) for step in range(steps)]
        steps = math.ceil(100 / factor - 1e-9)
        return [min(100.0, round(factor * (step + 1), 6)) for step in range(steps)]

    def steps(self) -> list[tuple[datetime.timedelta, float]]:
        """(offset from the start, percentage) of each step, spread over the deployment time."""
        percentages = self.percentages()
        interval = datetime.timedelta(minutes=self.duration_minutes) / len(percentages)
        return [(interval * index, value) for index, value in enumerate(percentages)]

    @property
    def deploy_time(self) -> datetime.timedelta:
        return datetime.timedelta(minutes=self.duration_minutes)

    @property
    def total_time(self) -> datetime.timedelta:
        return datetime.timedelta(minutes=self.duration_minutes + self.bake_minutes)


@dataclass(frozen=True)
class Ending:
    """How a deployment was stopped: ROLLED_BACK (in progress) or REVERTED (after completion)."""

    state: str
    at: datetime.datetime


@dataclass(frozen=True)
class Event:
    at: datetime.datetime
    event_type: str
    triggered_by: str
    description: str


@dataclass(frozen=True)
class Progress:
    """A deployment as seen at one moment."""

    state: str
    percentage: float
    completed_at: datetime.datetime | None
    # Oldest first; the API lists the most recent first.
    events: tuple[Event, ...]


def progress(
    rollout: Rollout, started_at: datetime.datetime, ending: Ending | None, now: datetime.datetime
) -> Progress:
    """Where a deployment stands at `now`."""
    if ending is not None and ending.at <= now:
        now = ending.at
    elapsed = now - started_at
    events = [Event(started_at, "DEPLOYMENT_STARTED", "USER", "Deployment started")]
    percentage = rollout.percentages()[0]
    for offset, value in rollout.steps():
        if offset <= elapsed:
            percentage = value
            events.append(
                Event(
                    started_at + offset,
                    "PERCENTAGE_UPDATED",
                    "APPCONFIG",
                    f"Configuration available to {value:g}% of clients",
                )
            )
    completed_at: datetime.datetime | None = None
    if elapsed < rollout.deploy_time:
        state = DEPLOYING
    else:
        percentage = 100.0
        if rollout.bake_minutes:
            events.append(
                Event(
                    started_at + rollout.deploy_time,
                    "BAKE_TIME_STARTED",
                    "APPCONFIG",
                    "Deployment bake time started",
                )
            )
        if elapsed < rollout.total_time:
            state = BAKING
        else:
            state = COMPLETE
            completed_at = started_at + rollout.total_time
            events.append(
                Event(completed_at, "DEPLOYMENT_COMPLETED", "APPCONFIG", "Deployment completed")
            )
    if ending is not None and ending.at <= now:
        if ending.state == ROLLED_BACK:
            events.append(Event(ending.at, "ROLLBACK_STARTED", "USER", "Rollback started"))
            events.append(Event(ending.at, "ROLLBACK_COMPLETED", "APPCONFIG", "Rollback completed"))
            completed_at = None
        else:
            events.append(
                Event(
                    ending.at,
                    "REVERT_COMPLETED",
                    "USER",
                    "Configuration reverted to the previous version",
                )
            )
        state = ending.state
    return Progress(state, percentage, completed_at, tuple(events))


def stop(
    rollout: Rollout,
    started_at: datetime.datetime,
    ending: Ending | None,
    now: datetime.datetime,
    *,
    allow_revert: bool,
    is_latest: bool,
) -> Ending | str:
    """The ending StopDeployment gives a deployment at `now`, or why it refuses (BadRequest)."""
    current = progress(rollout, started_at, ending, now)
    if current.state in IN_PROGRESS:
        return Ending(ROLLED_BACK, now)
    if current.state != COMPLETE:
        return f"the deployment is already {current.state}"
    if not allow_revert:
        return "the deployment is COMPLETE; only AllowRevert can revert it"
    if not is_latest:
        return "only the environment's latest deployment can be reverted"
    assert current.completed_at is not None
    if now - current.completed_at > REVERT_WINDOW:
        return "a deployment can only be reverted within 72 hours of its completion"
    return Ending(REVERTED, now)
