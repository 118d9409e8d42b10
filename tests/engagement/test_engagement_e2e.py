"""Engagement over time, end to end: a simulated instance whose counts grow as it goes on, its stream loaded
into raw, polled on a schedule (through a 429 storm, and one by one on a server older than 4.3), then dbt:
post_metric_snapshots and post_engagement_velocity must equal what the simulator says.

Real PostgreSQL, the real simulator, the real Mastodon.py client, real dbt. The simulator and the poller share
a fake clock, so hours pass in milliseconds (rate-limit windows still run on the real clock).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from extract.raw_loader import RawLoader
from orchestration.polling import PollRunner
from tests.engagement.engagement_data import (
    Clock,
    Observation,
    counts_of,
    dbt,
    emit_paced,
    expected_snapshots,
    load_as_streamed,
    sim_config,
    start_sim,
    stream_observations,
    utc,
)
from tests.helpers import TOKEN, TOKEN_ENV, query

WEIGHTS = (1, 3, 2, 0)  # replies, reblogs, favourites, quotes: the default engagement_weight_* vars


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def score(counts: tuple[int, ...]) -> int:
    return sum(c * w for c, w in zip(counts, WEIGHTS, strict=True))


def value_at(series: list[Observation], moment: datetime) -> Observation | None:
    found = None
    for obs in series:
        if obs.at <= moment:
            found = obs
    return found


def start_of_window(series: list[Observation], created_at: datetime, start: datetime) -> tuple[int, ...]:
    """The counts a window starting at ``start`` starts from (see post_engagement_velocity)."""
    if created_at >= start:
        return (0, 0, 0, 0)
    before = value_at(series, start)
    if before is not None:
        return before.counts
    return next(obs.counts for obs in series if obs.at > start)


def expected_velocity(series: list[Observation], created_at: datetime, as_of: datetime) -> dict[str, object]:
    now = value_at(series, as_of)
    assert now is not None
    first_hour = value_at(series, min(created_at + timedelta(hours=1), as_of))
    hour_ago = start_of_window(series, created_at, as_of - timedelta(hours=1))
    two_ago = start_of_window(series, created_at, as_of - timedelta(hours=2))
    growth = (score(now.counts) - score(two_ago)) / score(two_ago) * 100 if score(two_ago) > 0 else None
    return {
        "favourites_first_hour": first_hour.counts[2] if first_hour else None,
        "reblogs_first_hour": first_hour.counts[1] if first_hour else None,
        "favourites_last_hour": now.counts[2] - hour_ago[2],
        "reblogs_last_hour": now.counts[1] - hour_ago[1],
        "replies_last_hour": now.counts[0] - hour_ago[0],
        "favourites_last_2h": now.counts[2] - two_ago[2],
        "reblogs_last_2h": now.counts[1] - two_ago[1],
        "replies_last_2h": now.counts[0] - two_ago[0],
        "engagement_growth_pct_2h": growth,
    }


def test_snapshots_and_velocity_equal_the_simulators_ground_truth(warehouse, tmp_path):
    clock = Clock(utc(2026, 11, 20, 9, 0))
    sim = start_sim(clock, 51, rate_limit=1000, rate_window_seconds=2.0)
    try:
        config = sim_config(tmp_path, [sim], tiers=[{"max_age_minutes": 2880, "every_minutes": 1}],
                            budget_share=1.0)
        instance_id = config.instances[0].instance_id
        lines: list[str] = []
        runner = PollRunner(config, warehouse, say=lines.append, clock=clock, retry_initial_seconds=0.05)
        streamed = []
        observations: list[Observation] = []
        for cycle in range(8):
            events = emit_paced(sim, clock, 25, 24)  # 10 minutes of activity, loaded as the stream delivers it
            load_as_streamed(warehouse.dsn, config, events, f"stream:{cycle}")
            streamed.extend(events)
            clock.advance(minutes=10)
            if cycle == 4:
                sim.faults.exhaust_rate_limit()  # a 429 storm: the poller waits for the window's reset
            report = runner.run(once=True)
            result = report.per_instance[instance_id]
            assert result.unfetched == 0 and not result.errors
            assert result.batch_requests == math.ceil(report.due / 20) and result.single_requests == 0
            assert result.requests == result.batch_requests + result.throttled  # ≤ 1 request per 20 posts
            if cycle == 4:
                assert result.throttled >= 1 and result.rate_limit_waits >= 1
            truth = sim.ground_truth()
            polled = query(warehouse, "select payload_status_id from raw.stream_events "
                                      "where event_type = 'poll' and received_at = %s", (clock.now,))
            assert len(polled) == report.refreshed and report.refreshed > 0
            for (status_id,) in polled:
                status = truth.statuses[status_id].status
                if not status.get("reblog"):
                    observations.append(Observation(status_id, clock.now, counts_of(status)))
        assert any("answered 429" in line for line in lines)
        observations.extend(stream_observations(streamed))
        truth = sim.ground_truth()
    finally:
        sim.stop()

    dbt(warehouse.dsn, tmp_path / "dbt", "build", "--select", "+post_engagement_velocity",
        "--indirect-selection", "cautious")

    expected = expected_snapshots(observations)
    rows = query(warehouse, "select post_id, captured_at, replies_count, reblogs_count, favourites_count, "
                            "quotes_count, engagement_score from marts.post_metric_snapshots")
    actual: dict[str, list[tuple]] = {}
    for post_id, captured_at, *counts, engagement in rows:
        actual.setdefault(post_id, []).append((captured_at, tuple(counts), engagement))
    assert set(actual) == set(expected)
    grew = 0
    for status_id, series in expected.items():
        assert sorted(actual[status_id]) == [(o.at, o.counts, float(score(o.counts))) for o in series], status_id
        grew += len(series) > 1
    assert grew >= 20  # counts really changed over the polls

    as_of = max(o.at for o in observations)
    columns = ["favourites_first_hour", "reblogs_first_hour", "favourites_last_hour", "reblogs_last_hour",
               "replies_last_hour", "favourites_last_2h", "reblogs_last_2h", "replies_last_2h",
               "engagement_growth_pct_2h"]
    velocity = {row[0]: dict(zip(["as_of", *columns], row[1:], strict=True)) for row in query(
        warehouse, f"select post_id, as_of, {', '.join(columns)} from marts.post_engagement_velocity")}
    window_start = as_of - timedelta(hours=2)

    def created(status_id: str) -> datetime:
        return datetime.fromisoformat(truth.statuses[status_id].status["created_at"].replace("Z", "+00:00"))

    # the posts active in the 2 hours up to as_of (created, or a snapshot, then); the others gained nothing
    active = {status_id for status_id, series in expected.items()
              if window_start <= created(status_id) <= as_of or any(window_start <= o.at <= as_of for o in series)}
    assert set(velocity) == active and len(active) < len(expected)  # the scenario spans more than 2 hours
    gained = 0
    for status_id in active:
        series = expected[status_id]
        created_at = created(status_id)
        want = expected_velocity(series, created_at, as_of)
        got = velocity[status_id]
        assert got["as_of"] == as_of
        growth, want_growth = got.pop("engagement_growth_pct_2h"), want.pop("engagement_growth_pct_2h")
        assert got == {**want, "as_of": as_of}, status_id
        assert growth == pytest.approx(want_growth) if want_growth is not None else growth is None
        gained += bool(want["favourites_last_hour"])
    assert gained >= 10


def test_a_server_older_than_4_3_is_polled_one_by_one_from_the_start(warehouse, tmp_path):
    clock = Clock(utc(2026, 11, 20, 9, 0))
    sim = start_sim(clock, 52, batch_statuses_endpoint=False, version="4.2.10")
    try:
        config = sim_config(tmp_path, [sim], tiers=[{"max_age_minutes": 2880, "every_minutes": 1}])
        instance = config.instances[0]
        RawLoader(warehouse.dsn, config.state_dir).load_instances([{
            "instance_id": instance.instance_id, "instance_url": instance.url, "api_version": "v2",
            "software_version": "4.2.10", "title": None, "streaming_url": None, "streams_json": "[]",
            "timelines_access_json": None, "payload_json": "{}", "observed_at": clock.now}])
        events = emit_paced(sim, clock, 30, 10)
        load_as_streamed(warehouse.dsn, config, events, "stream:old")
        clock.advance(minutes=5)
        report = PollRunner(config, warehouse, say=lambda _line: None, clock=clock).run(once=True)
        truth = sim.ground_truth()
    finally:
        sim.stop()
    result = report.per_instance[instance.instance_id]
    assert report.due > 10 and result.batch_requests == 0 and result.single_requests == report.due
    assert report.refreshed + report.missing == report.due
    rows = query(warehouse, "select payload_status_id, payload->>'favourites_count' from raw.stream_events "
                            "where event_type = 'poll'")
    assert len(rows) == report.refreshed
    for status_id, favourites in rows:
        assert int(favourites) == truth.statuses[status_id].status["favourites_count"]
