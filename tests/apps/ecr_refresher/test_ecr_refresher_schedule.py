"""Scheduling decisions are pure functions of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ecr_refresher.schedule import (
    backoff_delay,
    next_refresh_at,
    next_token_retry_at,
    seconds_until,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_twelve_hour_token_renewed_after_eleven_and_a_half_hours() -> None:
    assert next_refresh_at(
        NOW, NOW + timedelta(hours=12), timedelta(minutes=30)
    ) == NOW + timedelta(hours=11, minutes=30)


def test_margin_is_configurable() -> None:
    at = next_refresh_at(NOW, NOW + timedelta(hours=12), timedelta(hours=2))
    assert at == NOW + timedelta(hours=10)


@pytest.mark.parametrize(
    "expires_in",
    [timedelta(minutes=10), timedelta(0), timedelta(days=-4000)],
    ids=["inside-margin", "expiring-now", "already-expired"],
)
def test_token_expiring_too_soon_never_causes_a_tight_loop(expires_in: timedelta) -> None:
    at = next_refresh_at(
        NOW, NOW + expires_in, timedelta(minutes=30), min_interval=timedelta(minutes=5)
    )
    assert at == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("attempt", "expected_s"), [(0, 0), (1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (50, 10)]
)
def test_backoff_doubles_up_to_the_cap(attempt: int, expected_s: float) -> None:
    delay = backoff_delay(attempt, timedelta(seconds=1), timedelta(seconds=10))
    assert delay == timedelta(seconds=expected_s)


def test_token_retry_backs_off_but_never_past_the_held_token_expiry() -> None:
    soon = NOW + timedelta(seconds=30)
    assert next_token_retry_at(NOW, 1, None) == NOW + timedelta(seconds=10)
    assert next_token_retry_at(NOW, 10, None) == NOW + timedelta(minutes=5)
    assert next_token_retry_at(NOW, 10, soon) == soon


def test_seconds_until_earliest_deadline() -> None:
    assert seconds_until(NOW) == float("inf")
    assert seconds_until(NOW, None, NOW + timedelta(seconds=90), NOW + timedelta(hours=1)) == 90
    assert seconds_until(NOW, NOW - timedelta(seconds=5)) == 0
