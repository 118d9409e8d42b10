"""When a failed item is tried again: exponential back-off with a ceiling and an attempt limit."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_retry_at(now: datetime, attempt_count: int, *, initial_minutes: float, max_minutes: float,
                  max_attempts: int) -> datetime | None:
    """The time of the next try after ``attempt_count`` failed attempts, or None once ``max_attempts`` is
    reached (the row then stays ``failed`` and visible until a forced run retries it).

    The delays are ``initial, 2·initial, 4·initial, ...`` minutes, never more than ``max_minutes``.
    """
    if attempt_count >= max_attempts:
        return None
    delay = min(initial_minutes * (2 ** max(attempt_count - 1, 0)), max_minutes)
    return now + timedelta(minutes=delay)
