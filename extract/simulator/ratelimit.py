"""Request budget per access token (or per client IP without one), like Mastodon's rack-attack.

Windows are fixed and aligned to the Unix epoch (``floor(now / window)``), as rack-attack's are.
Every counted request spends one unit, throttled ones included; once the budget is spent the API
answers 429 until the window ends. ``X-RateLimit-Reset`` is the end of the current window.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .ids import iso_us


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: float

    def headers(self) -> dict[str, str]:
        reset = dt.datetime.fromtimestamp(self.reset_epoch, tz=dt.timezone.utc)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": iso_us(reset),
        }


class RateLimiter:
    """Fixed-window counter keyed by token or IP."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}
        self._exhausted_window: int | None = None

    def _window_index(self, now: float) -> int:
        return math.floor(now / self.window)

    def hit(self, key: str) -> RateDecision:
        """Count one request for ``key`` and say whether it may proceed."""
        now = self.clock()
        index = self._window_index(now)
        with self._lock:
            window, count = self._counts.get(key, (index, 0))
            if window != index:
                count = 0
            count += 1
            if self._exhausted_window == index:
                count = max(count, self.limit + 1)
            self._counts[key] = (index, count)
        reset = (index + 1) * self.window
        return RateDecision(count <= self.limit, self.limit, max(0, self.limit - count), reset)

    def exhaust(self) -> float:
        """Spend every budget until the current window ends; returns that end (epoch seconds)."""
        now = self.clock()
        index = self._window_index(now)
        with self._lock:
            self._exhausted_window = index
        return (index + 1) * self.window
