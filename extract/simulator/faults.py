"""Fault injection: the ways a real instance misbehaves, on demand.

* ``drop_connections()``: every open stream ends abruptly (no terminating chunk).
* ``stall(seconds)``: connections open now stay open but receive nothing, heartbeats included;
  events published meanwhile are lost to them (they still exist over REST). Connections opened
  later are not stalled.
* ``malformed_next(kind)``: the next ``update``/``status.update`` frame that is written to at
  least one connection is malformed (deletes carry no JSON and pass through). Kinds:

  - ``bad_json``: the JSON is cut off part-way;
  - ``invalid_utf8``: bytes that are not UTF-8 appear inside the JSON;
  - ``nul_escape``: the status text itself contains U+0000 (sent as ``\\u0000``, valid JSON that
    PostgreSQL's ``jsonb`` rejects; REST shows the same text);
  - ``no_data``: an ``event:`` line with no ``data:`` line;
  - ``unknown_event``: the payload is sent under an event name clients do not know;
  - ``huge``: the status text itself is about 256 KiB (REST shows the same text).

  Calls queue up: two calls malform the next two such frames.
* ``http_errors(status, count, path_prefix)``: the next ``count`` requests whose path starts
  with ``path_prefix`` answer ``status`` (JSON error body, or nginx's HTML page for 502/503/504).
  Streaming requests are matched only when the prefix starts with ``/api/v1/streaming``.
* ``exhaust_rate_limit()``: every request budget is spent until the current window ends.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from .ratelimit import RateLimiter
from .streaming import StreamHub

MALFORMED_KINDS = ("bad_json", "invalid_utf8", "nul_escape", "no_data", "unknown_event", "huge")
UNKNOWN_EVENT_NAME = "status.reaction"
STREAMING_PREFIX = "/api/v1/streaming"


@dataclass
class HttpErrorRule:
    status: int
    remaining: int
    path_prefix: str


class Faults:
    """Fault switches of one simulated instance (thread-safe)."""

    def __init__(self, hub: StreamHub, limiter: RateLimiter) -> None:
        self._hub = hub
        self._limiter = limiter
        self._lock = threading.Lock()
        self._malformed: deque[str] = deque()
        self._http_errors: list[HttpErrorRule] = []

    def drop_connections(self) -> int:
        """Close every open streaming connection now; returns how many were closed."""
        return self._hub.drop_all()

    def stall(self, seconds: float) -> int:
        """Send nothing on the currently open connections for ``seconds``; returns how many."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        return self._hub.stall_all(seconds)

    def malformed_next(self, kind: str) -> None:
        """Malform the next status frame written to a stream (see module docs for kinds)."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}, not {kind!r}")
        with self._lock:
            self._malformed.append(kind)

    def peek_malformed(self) -> str | None:
        with self._lock:
            return self._malformed[0] if self._malformed else None

    def take_malformed(self) -> str | None:
        with self._lock:
            return self._malformed.popleft() if self._malformed else None

    def http_errors(self, status: int = 500, count: int = 1, path_prefix: str = "/api/") -> None:
        """Answer the next ``count`` requests under ``path_prefix`` with ``status``."""
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._http_errors.append(HttpErrorRule(status, count, path_prefix))

    def take_http_error(self, path: str) -> int | None:
        """If a pending rule matches ``path``, consume one use and return its status."""
        streaming = path.startswith(STREAMING_PREFIX)
        with self._lock:
            for rule in self._http_errors:
                if streaming and not rule.path_prefix.startswith(STREAMING_PREFIX):
                    continue
                if path.startswith(rule.path_prefix):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._http_errors.remove(rule)
                    return rule.status
        return None

    def exhaust_rate_limit(self) -> float:
        """Spend every request budget until the current window ends; returns its end (epoch)."""
        return self._limiter.exhaust()

    def clear(self) -> None:
        """Forget pending malformed frames and HTTP errors."""
        with self._lock:
            self._malformed.clear()
            self._http_errors.clear()

    def pending(self) -> dict[str, Any]:
        with self._lock:
            return {
                "malformed": list(self._malformed),
                "http_errors": [vars(r).copy() for r in self._http_errors],
            }
