"""Scenarios of the engagement and trending tests: a simulated instance driven on a fake clock, its events
loaded into raw as if streamed when they were emitted, and dbt runs on a warehouse of the test's own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from extract.events import RawEvent
from extract.raw_loader import RawLoader
from extract.simulator import SimulatedInstance, SimulatorConfig
from extract.simulator.state import Event
from orchestration.config import Config, parse_config
from orchestration.dbt_runner import DbtResult, run_dbt
from tests.helpers import FAST_EXTRACT, TOKEN, TOKEN_ENV

COUNTS = ("replies_count", "reblogs_count", "favourites_count", "quotes_count")


class Clock:
    """A settable UTC clock shared by a simulator and a poller."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def start_sim(clock: Clock, seed: int, **overrides: Any) -> SimulatedInstance:
    settings: dict[str, Any] = {"domain": f"sim-eng-{seed}.example", "port": 0, "seed": seed,
                                "events_per_second": 0, "heartbeat_interval": 0.5, "access_token": TOKEN,
                                "clock": clock}
    settings.update(overrides)
    return SimulatedInstance(SimulatorConfig(**settings)).start()


def sim_config(tmp_path: Path, sims: list[SimulatedInstance], **poll: Any) -> Config:
    raw = {"state_dir": str(tmp_path / "state"),
           "instances": [{"url": sim.url, "streams": ["public"], "access_token_env": TOKEN_ENV} for sim in sims],
           "extract": FAST_EXTRACT, "poll": poll}
    return parse_config(raw, tmp_path / "forkalytics.yml")


def emit_paced(sim: SimulatedInstance, clock: Clock, count: int, every_seconds: float) -> list[Event]:
    """Emit ``count`` events one by one, the clock moving ``every_seconds`` before each."""
    events = []
    for _ in range(count):
        clock.advance(seconds=every_seconds)
        events.extend(sim.emit(1))
    return events


def load_as_streamed(dsn: str, config: Config, events: list[Event], key: str, index: int = 0) -> int:
    """Load simulator events into raw as the public stream would have delivered them (at emission)."""
    instance = config.instances[index]
    rows = [RawEvent(instance.instance_id, instance.url, "public", "stream", e.event, e.emitted_at, e.data.encode())
            for e in events if e.event in ("update", "status.update", "delete")]
    RawLoader(dsn, config.state_dir).load_batch(key, rows)
    return len(rows)


def dbt(dsn: str, state_dir: Path, *args: str, vars: dict | None = None) -> DbtResult:
    result = run_dbt(list(args), dsn, state_dir=state_dir, vars=vars, quiet=True)
    assert result.success, result.summary + "\n" + result.output_tail
    return result


def counts_of(status: dict[str, Any]) -> tuple[int, int, int, int]:
    return tuple(int(status.get(name) or 0) for name in COUNTS)  # type: ignore[return-value]


@dataclass(frozen=True)
class Observation:
    """One observation of a status's counts, as the warehouse should have it."""

    status_id: str
    at: datetime
    counts: tuple[int, int, int, int]


def stream_observations(events: list[Event]) -> list[Observation]:
    """The counts each streamed Status carried (boosts excluded: their counts are the original's)."""
    found = []
    for event in events:
        if event.event not in ("update", "status.update"):
            continue
        status = json.loads(event.data)
        if status.get("reblog"):
            continue
        found.append(Observation(str(status["id"]), event.emitted_at, counts_of(status)))
    return found


def expected_snapshots(observations: list[Observation]) -> dict[str, list[Observation]]:
    """Per status, the observations whose counts differ from the previous one (the first always counts)."""
    by_status: dict[str, list[Observation]] = {}
    for obs in sorted(observations, key=lambda o: (o.status_id, o.at)):
        series = by_status.setdefault(obs.status_id, [])
        if not series or series[-1].counts != obs.counts:
            series.append(obs)
    return by_status


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)
