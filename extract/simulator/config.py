"""Configuration of a simulated Mastodon instance, parsed once and passed inward."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

SCENARIOS = ("default", "spike")
FEED_ACCESS = ("public", "authenticated", "disabled")


def utc_now() -> dt.datetime:
    """The real clock, as an aware UTC datetime (the default ``SimulatorConfig.clock``)."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class SimulatorConfig:
    """Everything that shapes one simulated instance.

    ``domain`` is what the instance calls itself (``acct``, ``uri``, ``url`` of its content);
    ``host``/``port`` are where it listens (``port=0`` picks a free port).

    Content is a deterministic function of ``seed``, ``scenario`` and the sequence of calls
    (events emitted, faults injected); only timestamps, and the ids derived from them, come from
    ``clock`` (the real clock unless a test passes a fake one).

    Access control mirrors Mastodon 4.5's ``timelines_access`` settings: ``live_feeds`` governs
    the public streams and the public timeline, ``hashtag_feeds`` the hashtag streams and tag
    timelines. ``access_token=None`` switches authentication off entirely (any bearer token is
    accepted, and an "authenticated" feed then only requires that some token is presented).

    The ``spike`` scenario plants the hashtag ``forkaspike``: it is used by
    ``spike_quiet_share`` of new posts (quiet phase) until event ``spike_start_event``, by
    ``spike_share`` of new posts (each by an account that has not used it yet, rotating across
    every domain) for the next ``spike_length_events`` events, then is quiet again.
    ``dailychatter`` is used by ``chatter_share`` of new posts throughout. At the default pace of
    5 events/s the quiet phase lasts 40 s and the burst 30 s.
    """

    domain: str = "sim-one.example"
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 42
    scenario: str = "default"
    events_per_second: float = 5.0
    heartbeat_interval: float = 15.0
    access_token: str | None = "sim-token"  # noqa: S105 - the simulator's well-known test token
    live_feeds: str = "public"
    hashtag_feeds: str = "public"
    rate_limit: int = 300
    rate_window_seconds: float = 300.0
    batch_statuses_endpoint: bool = True
    version: str = "4.3.2"
    title: str | None = None
    ingest_username: str = "forkalytics"
    send_timeout: float = 5.0
    spike_start_event: int = 200
    spike_length_events: int = 150
    spike_share: float = 0.5
    spike_quiet_share: float = 0.004
    chatter_share: float = 0.2
    clock: Callable[[], dt.datetime] = field(default=utc_now, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, not {self.scenario!r}")
        for name in ("live_feeds", "hashtag_feeds"):
            if getattr(self, name) not in FEED_ACCESS:
                raise ValueError(f"{name} must be one of {FEED_ACCESS}, not {getattr(self, name)!r}")
        if self.events_per_second < 0:
            raise ValueError("events_per_second must not be negative")
        if self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        if self.rate_limit < 1 or self.rate_window_seconds <= 0:
            raise ValueError("rate_limit must be at least 1 and rate_window_seconds positive")
        if not self.domain or "/" in self.domain:
            raise ValueError(f"domain must be a bare host name, not {self.domain!r}")

    @property
    def instance_title(self) -> str:
        """The instance's display title."""
        return self.title or f"Simulated Mastodon ({self.domain})"
