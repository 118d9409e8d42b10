"""A request budget for one token on one instance, read from Mastodon's rate-limit headers.

Mastodon counts requests per token (or per IP without one) in fixed windows and says where the caller
stands on every answer: ``X-RateLimit-Limit`` (requests per window), ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (the end of the window, ISO 8601). Polling shares the token with the streamer's
REST back-fill, so it takes at most a configured *share* of each window:

* the poller's own requests in a window never exceed ``floor(limit × share)`` (at least one);
* it never brings the token's remaining requests below the part reserved for everything else
  (``limit − budget``), so requests made by other processes on the same token count against the poller,
  not against the back-fill's headroom;
* once either bound is reached it waits until the window resets. Windows are fixed, so spending the
  budget early in a window is as safe as spreading it over the window: the bound is what matters;
* a 429 (another client spent the budget, or the server counts differently) waits until the reset the
  answer names, or, without one, backs off 2 s, 4 s, … up to 5 minutes.

Without rate-limit headers (a proxy error page, a server that sends none) the budget falls back to
Mastodon's documented default of 300 requests per 5 minutes, counted locally. A ``Date`` header that
disagrees with the local clock by more than a couple of seconds corrects the reset time for the skew.

Waits go through ``stop_event.wait`` so that stopping the process interrupts them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

DEFAULT_LIMIT = 300
DEFAULT_WINDOW_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 300.0
RESET_MARGIN_SECONDS = 0.05
SKEW_TOLERANCE_SECONDS = 2.0


def parse_reset(value: str) -> float | None:
    """Epoch seconds of an ``X-RateLimit-Reset`` value (ISO 8601, or epoch seconds as some servers send)."""
    text = value.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = _header(headers, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class RateBudget:
    """How many more requests the poller may make now, and how long to wait when none.

    Call :meth:`acquire` before each request and :meth:`record` with each answer's status and headers.
    """

    def __init__(self, share: float, *, stop_event: threading.Event | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self.limit = DEFAULT_LIMIT
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.reset_from_server = False
        self.used = 0  # this poller's requests in the current window
        self.waits = 0
        self.waited_seconds = 0.0
        self.throttled = 0  # 429 answers received
        self._backoff = 2.0

    @property
    def budget(self) -> int:
        """The most requests the poller may make in one window."""
        return max(1, math.floor(self.limit * self.share))

    @property
    def reserve(self) -> int:
        """Requests per window left to other users of the token (the streamer's back-fill)."""
        return self.limit - self.budget

    def _roll_window(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            self.used = 0
            self.remaining = None
            self.reset_at = None
            self.reset_from_server = False

    def may_request(self) -> bool:
        """True when a request now stays within the budget and the reserve."""
        self._roll_window(self.clock())
        if self.used >= self.budget:
            return False
        return self.remaining is None or self.remaining > self.reserve

    def acquire(self) -> bool:
        """Wait until a request is allowed; False when stopped while waiting."""
        while not self.may_request():
            now = self.clock()
            if self.reset_at is None:  # over budget in a window whose end is unknown: start a local one
                self.reset_at = now + DEFAULT_WINDOW_SECONDS
            pause = max(0.0, self.reset_at - now) + RESET_MARGIN_SECONDS
            self.waits += 1
            self.waited_seconds += pause
            if self.stop_event.wait(pause):
                return False
        return True

    def record(self, status_code: int | None, headers: Mapping[str, str] | None) -> None:
        """Account for one answer (``status_code=None`` for a request that got no answer)."""
        now = self.clock()
        self._roll_window(now)
        headers = headers or {}
        limit = _int_header(headers, "X-RateLimit-Limit")
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset_text = _header(headers, "X-RateLimit-Reset")
        reset = parse_reset(reset_text) if reset_text else None
        if reset is not None:
            date = _header(headers, "Date")
            if date:
                try:
                    skew = now - parsedate_to_datetime(date).timestamp()
                except (TypeError, ValueError, IndexError):
                    skew = 0.0
                if abs(skew) > SKEW_TOLERANCE_SECONDS:
                    reset += skew
            if self.reset_from_server and self.reset_at is not None and reset > self.reset_at + 0.5:
                self.used = 0  # the server moved on to a new window
            self.reset_at = reset
            self.reset_from_server = True
        elif self.reset_at is None:
            self.reset_at = now + DEFAULT_WINDOW_SECONDS  # no headers: count locally
            self.reset_from_server = False
        if limit is not None and limit > 0:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining
        elif self.remaining is not None:
            self.remaining -= 1  # an answer without headers (a proxy's error page) still spent a request
        self.used += 1
        if status_code == 429:
            self.throttled += 1
            self.remaining = 0
            if reset is None or reset <= now:
                self.reset_at = now + self._backoff
                self.reset_from_server = False
                self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
        elif status_code is not None and status_code < 400:
            self._backoff = 2.0
