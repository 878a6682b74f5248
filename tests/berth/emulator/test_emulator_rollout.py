"""How a deployment progresses, as pure functions of its strategy, its start and a given `now`
(the server computes the same from its clock; here the moments are chosen, never waited for)."""

from __future__ import annotations

import datetime

import pytest

from berth.emulator.rollout import (
    BAKING,
    COMPLETE,
    DEPLOYING,
    REVERTED,
    ROLLED_BACK,
    Ending,
    Rollout,
    progress,
    stop,
)

START = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float) -> datetime.datetime:
    return START + datetime.timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("growth_type", "factor", "expected"),
    [
        ("LINEAR", 100, [100.0]),
        ("LINEAR", 20, [20.0, 40.0, 60.0, 80.0, 100.0]),
        ("LINEAR", 50, [50.0, 100.0]),
        ("LINEAR", 30, [30.0, 60.0, 90.0, 100.0]),
        # User guide: G*(2^N), e.g. 2% -> 4% -> 8% ... until all targets.
        ("EXPONENTIAL", 2, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0]),
        ("EXPONENTIAL", 10, [10.0, 20.0, 40.0, 80.0, 100.0]),
        ("EXPONENTIAL", 100, [100.0]),
    ],
)
def test_percentages_grow_as_the_user_guide_describes(
    growth_type: str, factor: float, expected: list[float]
) -> None:
    assert Rollout(10, 0, growth_type, factor).percentages() == expected


def test_a_linear_rollout_steps_evenly_then_bakes_then_completes() -> None:
    # User guide: growth factor 20 starts at 20%, after 1/5 of the time 40%, ...
    rollout = Rollout(duration_minutes=10, bake_minutes=5, growth_type="LINEAR", growth_factor=20)
    timeline = [
        (minute, progress(rollout, START, None, at(minute)))
        for minute in (0, 1.99, 2, 8, 10, 14.9, 15)
    ]
    assert [(minute, seen.state, seen.percentage) for minute, seen in timeline] == [
        (0, DEPLOYING, 20.0),
        (1.99, DEPLOYING, 20.0),
        (2, DEPLOYING, 40.0),
        (8, DEPLOYING, 100.0),
        (10, BAKING, 100.0),
        (14.9, BAKING, 100.0),
        (15, COMPLETE, 100.0),
    ]
    assert [seen.completed_at for _, seen in timeline][-2:] == [None, at(15)]


def test_a_zero_minute_zero_bake_rollout_is_complete_at_once() -> None:
    seen = progress(Rollout(0, 0, "LINEAR", 100), START, None, START)
    assert (seen.state, seen.percentage, seen.completed_at) == (COMPLETE, 100.0, START)
    assert [event.event_type for event in seen.events] == [
        "DEPLOYMENT_STARTED",
        "PERCENTAGE_UPDATED",
        "DEPLOYMENT_COMPLETED",
    ]


def test_the_event_log_holds_what_has_happened_by_now() -> None:
    rollout = Rollout(4, 2, "LINEAR", 50)
    seen = progress(rollout, START, None, at(5))
    assert [(event.event_type, event.at) for event in seen.events] == [
        ("DEPLOYMENT_STARTED", at(0)),
        ("PERCENTAGE_UPDATED", at(0)),
        ("PERCENTAGE_UPDATED", at(2)),
        ("BAKE_TIME_STARTED", at(4)),
    ]
    assert {event.triggered_by for event in seen.events[1:]} == {"APPCONFIG"}


def test_stopping_in_progress_rolls_back_at_that_moment() -> None:
    rollout = Rollout(10, 10, "LINEAR", 20)
    for minute in (3, 12):  # deploying, then baking
        ending = stop(rollout, START, None, at(minute), allow_revert=False, is_latest=True)
        assert ending == Ending(ROLLED_BACK, at(minute))
        later = progress(rollout, START, ending, at(60))
        assert (later.state, later.completed_at) == (ROLLED_BACK, None)
        assert later.events[-1].at == at(minute)
        assert [e.event_type for e in later.events[-2:]] == [
            "ROLLBACK_STARTED",
            "ROLLBACK_COMPLETED",
        ]


@pytest.mark.parametrize(
    ("minute", "allow_revert", "is_latest", "expected"),
    [
        (30, True, True, REVERTED),
        (20 + 72 * 60, True, True, REVERTED),  # exactly 72 hours after completion
        (21 + 72 * 60, True, True, "within 72 hours"),
        (30, False, True, "AllowRevert"),
        (30, True, False, "latest deployment"),
    ],
)
def test_reverting_a_complete_deployment(
    minute: int, allow_revert: bool, is_latest: bool, expected: str
) -> None:
    rollout = Rollout(10, 10, "LINEAR", 100)  # complete at minute 20
    outcome = stop(rollout, START, None, at(minute), allow_revert=allow_revert, is_latest=is_latest)
    if expected == REVERTED:
        assert outcome == Ending(REVERTED, at(minute))
        seen = progress(rollout, START, outcome, at(minute + 1))
        assert (seen.state, seen.completed_at) == (REVERTED, at(20))
    else:
        assert isinstance(outcome, str) and expected in outcome


def test_a_stopped_deployment_cannot_be_stopped_again() -> None:
    rollout = Rollout(10, 0, "LINEAR", 20)
    ending = Ending(ROLLED_BACK, at(1))
    outcome = stop(rollout, START, ending, at(2), allow_revert=True, is_latest=True)
    assert outcome == "the deployment is already ROLLED_BACK"
