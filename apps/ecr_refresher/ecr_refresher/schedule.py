"""Scheduling decisions as pure functions of time (no clock reads, no sleeping)."""

from __future__ import annotations

from datetime import datetime, timedelta

# Never refresh more often than this, even if ECR hands out an already-expired token
# (clock skew, emulators): a tight loop would hammer ECR and the API server.
MIN_REFRESH_INTERVAL = timedelta(minutes=5)


def next_refresh_at(
    now: datetime,
    expires_at: datetime,
    margin: timedelta,
    min_interval: timedelta = MIN_REFRESH_INTERVAL,
) -> datetime:
    """When to fetch a new token: `margin` before it expires, but not sooner than `min_interval`.

    A 12 h token with a 30 m margin is renewed after 11.5 h.
    """
    return max(expires_at - margin, now + min_interval)


def backoff_delay(attempt: int, base: timedelta, cap: timedelta) -> timedelta:
    """Delay before retry number `attempt` (1-based): base * 2^(attempt-1), at most `cap`."""
    if attempt < 1:
        return timedelta(0)
    # The exponent is clamped: a long outage counts many failures, and timedelta overflows.
    delay: timedelta = base * (2 ** min(attempt - 1, 20))
    return min(delay, cap)


def next_token_retry_at(
    now: datetime,
    consecutive_failures: int,
    expires_at: datetime | None,
    base: timedelta = timedelta(seconds=10),
    cap: timedelta = timedelta(minutes=5),
) -> datetime:
    """When to try ECR again after `consecutive_failures` failed token fetches.

    Bounded exponential backoff; never later than the expiry of the token we still hold.
    """
    retry_at = now + backoff_delay(consecutive_failures, base, cap)
    if expires_at is not None and now < expires_at:
        return min(retry_at, expires_at)
    return retry_at


def seconds_until(now: datetime, *deadlines: datetime | None) -> float:
    """Seconds from `now` to the earliest deadline given (0 if one is due, inf if none)."""
    pending = [deadline for deadline in deadlines if deadline is not None]
    if not pending:
        return float("inf")
    return max(0.0, (min(pending) - now).total_seconds())
