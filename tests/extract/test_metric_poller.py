"""Metric polling (issue 4, extract side): due posts from raw, batch and one-by-one refresh, rate limits,
missing statuses, and the prior system's starvation defect.

Real PostgreSQL (``warehouse`` fixture), the real simulator and the real Mastodon.py client. Statuses reach
raw first — streamed by the streamer, or loaded as stream events with ``RawLoader`` — and are then polled.
Tests that need time to pass share a fake clock between the simulator (``created_at``) and the poller
(scheduling and ``received_at``); rate-limit windows always run on the real clock.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from extract.events import RawEvent
from extract.mastodon_client import make_client
from extract.metric_poller import POLL_STREAM, split_json_array
from extract.poll_schedule import KnownStatus, interval_for, is_confirmed_missing, schedule
from extract.rate_budget import RateBudget, parse_reset
from extract.raw_loader import RawLoader
from extract.simulator import SimulatedInstance, SimulatorConfig
from extract.spool import SpoolWriter
from orchestration.config import Config, PollConfig, PollTier, parse_config
from orchestration.errors import ConfigError
from orchestration.polling import PollReport, PollRunner, poll_spool_dir, run_poll
from tests.helpers import FAST_EXTRACT, TOKEN, TOKEN_ENV, StreamerThread, query, wait_for

COUNTS = ("replies_count", "reblogs_count", "favourites_count", "quotes_count")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


class Clock:
    """A settable UTC clock shared by a simulator and a poller."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def sims():
    started: list[SimulatedInstance] = []

    def start(seed: int, **overrides: Any) -> SimulatedInstance:
        settings: dict[str, Any] = {"domain": f"sim-poll-{seed}.example", "port": 0, "seed": seed,
                                    "events_per_second": 0, "heartbeat_interval": 0.5, "access_token": TOKEN}
        settings.update(overrides)
        sim = SimulatedInstance(SimulatorConfig(**settings)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def poll_config(tmp_path: Path, sim: SimulatedInstance, **poll: Any) -> Config:
    raw = {"state_dir": str(tmp_path / "state"),
           "instances": [{"url": sim.url, "streams": ["public"], "access_token_env": TOKEN_ENV}],
           "extract": FAST_EXTRACT, "poll": poll}
    return parse_config(raw, tmp_path / "forkalytics.yml")


def load_stream_events(warehouse, config: Config, sim: SimulatedInstance, *, deletes: bool = True,
                       key: str = "test:stream", index: int = 0) -> dict[str, datetime]:
    """Load the simulator's events into raw as if streamed at emission time; returns each status's latest
    ``received_at`` (statuses with a loaded ``delete`` left out)."""
    instance = config.instances[index]
    kinds = {"update", "status.update"} | ({"delete"} if deletes else set())
    events = [e for e in sim.ground_truth().events if e.event in kinds]
    RawLoader(warehouse.dsn, config.state_dir).load_batch(key, [
        RawEvent(instance.instance_id, instance.url, "public", "stream", e.event, e.emitted_at, e.data.encode())
        for e in events])
    deleted = {e.status_id for e in events if e.event == "delete"}
    last: dict[str, datetime] = {}
    for e in events:
        if e.event != "delete" and e.status_id not in deleted:
            last[e.status_id] = max(last.get(e.status_id, e.emitted_at), e.emitted_at)
    return last


@dataclass
class Seen:
    """One answer the poller's client received."""

    path: str
    status: int
    reset: str | None
    remaining: int | None


def recording_factory(log: list[Seen]) -> Callable[..., Any]:
    """``make_client`` with a session hook that records every answer (an independent request count)."""
    def factory(base_url: str, token: str | None, **kwargs: Any):
        client, capture = make_client(base_url, token, **kwargs)

        def hook(response: requests.Response, *args: Any, **kw: Any) -> requests.Response:
            remaining = response.headers.get("X-RateLimit-Remaining")
            log.append(Seen(urlsplit(response.url).path, response.status_code,
                            response.headers.get("X-RateLimit-Reset"), int(remaining) if remaining else None))
            return response

        client.session.hooks["response"].append(hook)
        return client, capture
    return factory


def runner(config: Config, warehouse, clock: Clock, log: list[Seen], lines: list[str]) -> PollRunner:
    return PollRunner(config, warehouse, say=lines.append, clock=clock, client_factory=recording_factory(log),
                      retry_initial_seconds=0.05)


def poll_rows(warehouse, event_type: str = "poll") -> list[tuple[str, Any, datetime]]:
    return query(warehouse, "select payload_status_id, payload, received_at from raw.stream_events "
                            "where source = 'poll' and event_type = %s order by received_at", (event_type,))


def polled_at(warehouse, moment: datetime, event_type: str = "poll") -> set[str]:
    return {sid for sid, _, at in poll_rows(warehouse, event_type) if at == moment}


def assert_counts_match_truth(warehouse, sim: SimulatedInstance, ids: set[str]) -> int:
    """The newest poll of each id has the simulator's counts now; returns how many were compared."""
    truth = sim.ground_truth()
    latest: dict[str, Any] = {}
    for sid, payload, _ in poll_rows(warehouse):
        latest[sid] = payload
    for sid in ids:
        expected = {k: truth.status(sid).status[k] for k in COUNTS}
        assert {k: latest[sid][k] for k in COUNTS} == expected, sid
        assert latest[sid]["uri"] == truth.status(sid).status["uri"]
    return len(ids)


def alive(sim: SimulatedInstance, ids: set[str]) -> set[str]:
    truth = sim.ground_truth()
    return {sid for sid in ids if not truth.status(sid).deleted}


# -- configuration --------------------------------------------------------------------------------
def test_poll_section_defaults_and_overrides():
    default = parse_config({}).poll
    assert default == PollConfig()
    assert [(t.max_age_minutes, t.every_minutes) for t in default.tiers] == [(60, 5), (360, 15), (2880, 60)]
    assert (default.horizon_hours, default.batch_size, default.budget_share) == (48, 20, 0.5)
    custom = parse_config({"poll": {"horizon_hours": 6, "batch_size": 10, "budget_share": 0.25,
                                    "confirm_missing_after_minutes": 30, "cycle_seconds": 15,
                                    "tiers": [{"max_age_minutes": 30, "every_minutes": 2},
                                              {"max_age_minutes": 360, "every_minutes": 20}]}}).poll
    assert custom.tiers == (PollTier(30, 2), PollTier(360, 20)) and custom.batch_size == 10
    # the default tiers stretch to a longer horizon; explicit tiers must reach it themselves
    assert parse_config({"poll": {"horizon_hours": 72}}).poll.tiers[-1] == PollTier(4320, 60)


@pytest.mark.parametrize(("poll", "message"), [
    ({"batch_size": 40}, "at most 20"),
    ({"batch_size": 0}, "at least 1"),
    ({"budget_share": 1.5}, "between 0 and 1"),
    ({"budget_share": 0}, "greater than 0"),
    ({"horizon_hours": -1}, "at least 0"),
    ({"horizon_hours": 0}, "greater than 0"),
    ({"tiers": []}, "non-empty list"),
    ({"tiers": [{"max_age_minutes": 60}]}, "needs both"),
    ({"tiers": [{"max_age_minutes": 60, "every_minutes": 5, "top": 50}]}, "Unknown setting 'top'"),
    ({"tiers": [{"max_age_minutes": 360, "every_minutes": 5}, {"max_age_minutes": 60, "every_minutes": 1}]},
     "increasing max_age_minutes"),
    ({"tiers": [{"max_age_minutes": 60, "every_minutes": 5}]}, "before the horizon of 48 hours"),
    ({"cycle_seconds": "often"}, "must be a number"),
    ({"top_n": 50}, "Unknown setting 'top_n' in poll"),
    ("sometimes", "must be a mapping"),
])
def test_bad_poll_section_is_one_sentence(poll, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config({"poll": poll})
    text = str(caught.value)
    assert text.endswith(".") and "\n" not in text and text.count(". ") == 0


# -- schedule, budget and parsing (no server) -----------------------------------------------------
def test_tiers_and_due_order():
    poll = PollConfig()
    now = T0

    def known(sid: str, age: timedelta, since_seen: timedelta, **kw: Any) -> KnownStatus:
        return KnownStatus(sid, now - age, now - since_seen, **kw)

    assert interval_for(timedelta(minutes=59), poll.tiers) == timedelta(minutes=5)
    assert interval_for(timedelta(minutes=60), poll.tiers) == timedelta(minutes=15)
    assert interval_for(timedelta(hours=47), poll.tiers) == timedelta(hours=1)
    statuses = [
        known("young-fresh", timedelta(minutes=10), timedelta(minutes=2)),      # too young to be due
        known("young-due", timedelta(minutes=10), timedelta(minutes=6)),        # 1 min overdue
        known("mid-due", timedelta(hours=3), timedelta(minutes=20)),            # 5 min overdue
        known("mid-fresh", timedelta(hours=3), timedelta(minutes=10)),
        known("old-quiet", timedelta(hours=30), timedelta(hours=2)),            # 60 min overdue
        known("beyond-horizon", timedelta(hours=49), timedelta(hours=5)),
        known("missed-once", timedelta(hours=30), timedelta(minutes=5), misses=1,
              first_miss_at=now - timedelta(minutes=5), last_miss_at=now - timedelta(minutes=5)),
        known("missed-twice-soon", timedelta(hours=30), timedelta(minutes=5), misses=2,
              first_miss_at=now - timedelta(minutes=8), last_miss_at=now - timedelta(minutes=5)),
        known("confirmed-gone", timedelta(hours=30), timedelta(minutes=4), misses=2,
              first_miss_at=now - timedelta(minutes=10), last_miss_at=now - timedelta(minutes=4)),
    ]
    plan = schedule(statuses, now, poll)
    assert [d.status_id for d in plan.due] == ["old-quiet", "mid-due", "young-due", "missed-once",
                                               "missed-twice-soon"]
    assert plan.confirmed_missing == 1 and plan.tracked == 7
    assert is_confirmed_missing(statuses[-1], timedelta(minutes=5))
    assert not is_confirmed_missing(statuses[-2], timedelta(minutes=5))  # second miss only 3 min later


def test_rate_budget_keeps_to_its_share_and_waits_for_the_reset():
    now = [1000.0]
    budget = RateBudget(0.5, clock=lambda: now[0])
    headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Reset": "1970-01-01T00:17:00.000000Z"}  # epoch 1020
    assert parse_reset(headers["X-RateLimit-Reset"]) == 1020.0
    for remaining in (9, 8, 7, 6, 5):
        assert budget.may_request()
        budget.record(200, {**headers, "X-RateLimit-Remaining": str(remaining)})
    assert (budget.budget, budget.used) == (5, 5) and not budget.may_request()
    now[0] = 1020.1  # the window ended: a fresh budget
    assert budget.may_request()
    # another client on the token spent the window: the reserve left to it is not touched
    budget.record(200, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "5",
                        "X-RateLimit-Reset": "1970-01-01T00:17:20Z"})
    assert budget.used == 1 and not budget.may_request()
    # a 429 without a reset backs off
    now[0] = 1040.5
    budget.record(429, {})
    assert budget.throttled == 1 and not budget.may_request() and budget.reset_at == pytest.approx(1042.5)
    stopped = threading.Event()
    stopped.set()
    assert RateBudget(0.5, stop_event=stopped, clock=lambda: now[0]).acquire()  # nothing spent: no wait
    blocked = RateBudget(1.0, stop_event=stopped, clock=lambda: now[0])
    blocked.record(429, {})
    assert not blocked.acquire() and blocked.waits == 1  # a stop interrupts the wait


def test_batch_answer_is_split_into_the_exact_bytes_of_each_status():
    body = '[ {"id":"1","content":"caf\u00e9 \\u00e9","n":  1} ,\n{"id": "2", "x": [1, {"y": "]"}]}]'.encode()
    parts = split_json_array(body)
    assert [raw for raw, _ in parts] == [b'{"id":"1","content":"caf\xc3\xa9 \\u00e9","n":  1}',
                                         b'{"id": "2", "x": [1, {"y": "]"}]}']
    assert [value["id"] for _, value in parts] == ["1", "2"]
    assert split_json_array(b"[]") == [] and split_json_array(b" [ ] ") == []
    for bad in (b'{"error": "x"}', b"[1, 2", b"[1,]", b"<html>502</html>", b"[1] trailing"):
        assert split_json_array(bad) is None


# -- against the simulator ------------------------------------------------------------------------
def _token_requests_so_far(sim: SimulatedInstance) -> int:
    """Requests the token has spent in the current (very long) rate-limit window, asked of the server."""
    answer = requests.get(f"{sim.url}/api/v2/instance", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    return int(answer.headers["X-RateLimit-Limit"]) - int(answer.headers["X-RateLimit-Remaining"])


@pytest.mark.slow
def test_streamed_posts_are_polled_in_batches_and_match_ground_truth(warehouse, sims, tmp_path):
    sim = sims(41, rate_limit=100_000, rate_window_seconds=10_000_000)
    # tiers so short that everything streamed is due at once: run_poll on the real clock
    config = poll_config(tmp_path, sim, tiers=[{"max_age_minutes": 2880, "every_minutes": 0.001}])
    instance_id = config.instances[0].instance_id
    with StreamerThread(config, warehouse) as running:
        sim.emit(130)
        expected = [e for e in sim.ground_truth().events if "public" in e.written_to]
        wait_for(lambda: query(warehouse, "select count(*) from raw.stream_events where source = 'stream'")[0][0]
                 >= len(expected), what="the streamed events in raw")
        running.stop()
    streamed = {sid for (sid,) in query(warehouse, "select distinct payload_status_id from raw.stream_events "
                                                   "where event_type = 'update'")}
    deleted = {sid for (sid,) in query(warehouse, "select payload_status_id from raw.stream_events "
                                                  "where event_type = 'delete'")}
    known = streamed - deleted
    assert len(known) > 80

    lines: list[str] = []
    before = _token_requests_so_far(sim)
    report = run_poll(config, warehouse, say=lines.append, once=True)
    spent = _token_requests_so_far(sim) - before - 1
    assert report.refreshed == len(known) and report.missing == 0
    assert spent == report.requests == math.ceil(len(known) / 20)  # ≤ 1 request per 20 posts
    assert report.per_instance[instance_id].single_requests == 0
    polled = [sid for sid, _, _ in poll_rows(warehouse)]
    assert Counter(polled) == Counter(known)
    assert assert_counts_match_truth(warehouse, sim, known) == len(known)
    rows = query(warehouse, "select distinct stream, source, payload_error is null from raw.stream_events "
                            "where event_type = 'poll'")
    assert rows == [(POLL_STREAM, "poll", True)]
    assert lines == [f"poll {instance_id}: {len(known)} due, {len(known)} refreshed, {report.requests} requests, "
                     "0 missing, 0 rate-limit waits"]

    # counts grow as the instance goes on; some polled posts get deleted meanwhile (the stream is off)
    before_counts = {sid: payload["favourites_count"] for sid, payload, _ in poll_rows(warehouse)}
    sim.emit(150)
    report = run_poll(config, warehouse, say=lines.append, once=True)
    gone = known - alive(sim, known)
    assert gone and report.missing == len(gone) and report.refreshed == len(known) - len(gone)
    assert {sid for sid, _, _ in poll_rows(warehouse, "poll.missing")} == gone
    assert_counts_match_truth(warehouse, sim, known - gone)
    after = {sid: payload["favourites_count"] for sid, payload, _ in poll_rows(warehouse)}
    assert any(after[sid] > before_counts[sid] for sid in known - gone)
    assert TOKEN not in "\n".join(lines)
    assert not list(poll_spool_dir(config).glob("*.ready")) and not list(poll_spool_dir(config).glob("*.open"))


def test_missing_status_is_confirmed_after_a_second_miss_and_then_no_longer_polled(warehouse, sims, tmp_path):
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    sim = sims(42, clock=clock)
    sim.emit(90)
    config = poll_config(tmp_path, sim, confirm_missing_after_minutes=5)
    # the stream's deletes never reached raw: the poller has to find out
    known = set(load_stream_events(warehouse, config, sim, deletes=False))
    gone = known - alive(sim, known)
    assert len(gone) >= 3
    log: list[Seen] = []
    lines: list[str] = []

    def cycle(minutes: float) -> PollReport:
        clock.advance(minutes=minutes)
        return runner(config, warehouse, clock, log, lines).run(once=True)  # a fresh runner: state from raw

    first = cycle(6)
    assert first.missing == len(gone) and first.refreshed == len(known) - len(gone)
    assert polled_at(warehouse, clock.now, "poll.missing") == gone  # absent from the batch answers
    missing_payloads = query(warehouse, "select payload #>> '{}', payload_status_id from raw.stream_events "
                                        "where event_type = 'poll.missing'")
    assert all(text == sid for text, sid in missing_payloads)
    assert cycle(3).requests == 0  # nothing is due 3 minutes later, missing or not
    second = cycle(2)  # 5 minutes after the first miss: the second miss confirms it
    assert second.missing == len(gone) and polled_at(warehouse, clock.now, "poll.missing") == gone
    third = cycle(6)
    assert third.missing == 0 and polled_at(warehouse, clock.now) == known - gone
    assert not polled_at(warehouse, clock.now, "poll.missing")
    assert Counter(sid for sid, _, _ in poll_rows(warehouse, "poll.missing")) == {sid: 2 for sid in gone}


def test_fallback_one_by_one_where_the_batch_endpoint_is_missing(warehouse, sims, tmp_path):
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    sim = sims(43, clock=clock, batch_statuses_endpoint=False, version="4.2.10")
    sim.emit(26)
    config = poll_config(tmp_path, sim, confirm_missing_after_minutes=5)
    known = set(load_stream_events(warehouse, config, sim, deletes=False))
    gone = known - alive(sim, known)
    assert gone and len(known) > 15
    log: list[Seen] = []
    lines: list[str] = []
    poller = runner(config, warehouse, clock, log, lines)
    clock.advance(minutes=6)
    first = poller.run(once=True)
    batch_calls = [s for s in log if s.path == "/api/v1/statuses"]
    assert [s.status for s in batch_calls] == [404]  # tried once, then remembered for the run
    assert len(log) == 1 + len(known) and first.requests == len(log)
    assert polled_at(warehouse, clock.now) == known - gone
    assert polled_at(warehouse, clock.now, "poll.missing") == gone  # 404 on the single endpoint
    assert_counts_match_truth(warehouse, sim, known - gone)
    assert "one by one: no batch endpoint" in lines[-1]

    log.clear()
    clock.advance(minutes=6)
    poller.run(once=True)
    assert [s.path for s in log].count("/api/v1/statuses") == 0 and len(log) == len(known)
    log.clear()
    clock.advance(minutes=6)
    poller.run(once=True)  # the misses are confirmed now: the deleted statuses are no longer asked for
    assert len(log) == len(known) - len(gone)
    assert {s.path.rsplit("/", 1)[1] for s in log} == known - gone


def test_429_storm_and_server_errors_are_waited_out_with_nothing_lost(warehouse, sims, tmp_path):
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    sim = sims(44, clock=clock, batch_statuses_endpoint=False, rate_limit=10, rate_window_seconds=2.0)
    sim.emit(20)
    config = poll_config(tmp_path, sim, budget_share=1.0)
    known = set(load_stream_events(warehouse, config, sim))
    assert len(known) >= 15
    # every request answers 429 until the window ends; a window that is nearly over is skipped, so the storm
    # lasts at least 1.5 s and the poller's first request (well within that) meets it
    window_end = sim.faults.exhaust_rate_limit()
    if window_end - time.time() < 1.5:
        time.sleep(max(0.0, window_end - time.time()) + 0.01)
        sim.faults.exhaust_rate_limit()
    sim.faults.http_errors(status=503, count=2, path_prefix="/api/v1/statuses/")
    sim.faults.http_errors(status=500, count=1, path_prefix="/api/v1/statuses/")
    log: list[Seen] = []
    lines: list[str] = []
    clock.advance(minutes=6)
    report = runner(config, warehouse, clock, log, lines).run(once=True)
    result = report.per_instance[config.instances[0].instance_id]
    assert report.refreshed == len(known) and report.missing == 0 and result.unfetched == 0
    assert polled_at(warehouse, clock.now) == known
    assert_counts_match_truth(warehouse, sim, known)
    assert result.throttled >= 1 and report.rate_limit_waits >= 2 and result.retries == 3
    assert Counter(s.status for s in log)[429] == result.throttled  # one 429 per storm, then it waits
    assert "answered 429" in lines[-1] and "3 retried" in lines[-1]


def test_polling_never_exceeds_its_share_of_the_rate_limit(warehouse, sims, tmp_path):
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    sim = sims(45, clock=clock, batch_statuses_endpoint=False, rate_limit=10, rate_window_seconds=1.0)
    sim.emit(18)
    config = poll_config(tmp_path, sim, budget_share=0.5)
    known = set(load_stream_events(warehouse, config, sim))
    log: list[Seen] = []
    clock.advance(minutes=6)
    report = runner(config, warehouse, clock, log, []).run(once=True)
    assert report.refreshed == len(known)
    per_window = Counter(s.reset for s in log)
    assert len(per_window) >= math.ceil(len(log) / 5)
    assert max(per_window.values()) <= 5  # half of 10 per window, never more
    assert all(s.status != 429 for s in log)
    assert min(s.remaining for s in log) >= 5  # the other half stays for the streamer's back-fill


def test_quiet_old_posts_are_not_starved_like_the_old_top_50_poller(warehouse, sims, tmp_path):
    """The prior poller refreshed the same top 50 posts by score forever; here every due post is refreshed."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = Clock(now - timedelta(hours=50))
    sim = sims(46, clock=clock)
    sim.emit(5)  # beyond the 48 h horizon
    for age, count in ((timedelta(hours=10), 25), (timedelta(hours=3), 30), (timedelta(minutes=30), 30),
                       (timedelta(minutes=2), 12)):
        clock.now = now - age
        sim.emit(count)
    clock.now = now
    config = poll_config(tmp_path, sim)
    last_seen = load_stream_events(warehouse, config, sim)
    truth = sim.ground_truth()
    poll = config.poll

    def expected_due(at: datetime) -> set[str]:
        return {sid for sid, seen in last_seen.items()
                if at - truth.status(sid).created_at <= timedelta(hours=poll.horizon_hours)
                and at - seen >= interval_for(at - truth.status(sid).created_at, poll.tiers)}

    def score(sid: str) -> int:
        status = truth.status(sid).status
        return 3 * status["reblogs_count"] + 2 * status["favourites_count"] + status["replies_count"]

    log: list[Seen] = []
    lines: list[str] = []
    due = expected_due(now)
    report = runner(config, warehouse, clock, log, lines).run(once=True)
    polled = polled_at(warehouse, now)
    assert polled == due and len(due) > 50  # no top-N cut-off
    assert len(log) == math.ceil(len(due) / 20)
    old = {sid for sid in due if now - truth.status(sid).created_at > timedelta(hours=6)}
    quietest = min(old, key=score)
    assert quietest in polled and score(quietest) <= sorted(score(s) for s in due)[-50]
    too_young = {sid for sid, seen in last_seen.items() if now - seen < timedelta(minutes=5)}
    assert too_young and not too_young & polled  # seen 2 minutes ago: not due yet
    beyond = {sid for sid in last_seen if now - truth.status(sid).created_at > timedelta(hours=48)}
    assert beyond and not beyond & polled
    assert report.due == len(due)

    for minutes in (16, 45):  # a restarted poller (fresh runner) finds from raw alone what is due
        clock.advance(minutes=minutes)
        for sid in polled_at(warehouse, clock.now - timedelta(minutes=minutes)):
            last_seen[sid] = clock.now - timedelta(minutes=minutes)
        expected = expected_due(clock.now)
        runner(config, warehouse, clock, log, lines).run(once=True)
        assert polled_at(warehouse, clock.now) == expected
        for sid in expected:
            last_seen[sid] = clock.now
    assert old <= polled_at(warehouse, clock.now)  # hourly for the old ones: 61 minutes after the first cycle
    assert old.isdisjoint(polled_at(warehouse, now + timedelta(minutes=16)))


def test_observations_a_crashed_run_buffered_are_loaded_first_and_count(warehouse, sims, tmp_path):
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    sim = sims(47, clock=clock)
    sim.emit(30)
    config = poll_config(tmp_path, sim)
    known = set(load_stream_events(warehouse, config, sim))
    instance = config.instances[0]
    clock.advance(minutes=6)
    crashed_at = clock.now
    truth = sim.ground_truth()
    with SpoolWriter(poll_spool_dir(config)) as spool:  # what a run fetched before it was killed
        for sid in sorted(known):
            spool.append(RawEvent(instance.instance_id, instance.url, POLL_STREAM, "poll", "poll", crashed_at,
                                  json.dumps(truth.status(sid).status).encode()))
    clock.advance(minutes=1)
    log: list[Seen] = []
    report = runner(config, warehouse, clock, log, []).run(once=True)
    assert report.loaded.rows == len(known) and report.due == 0 and log == []  # nothing due: raw says so
    assert polled_at(warehouse, crashed_at) == known
    assert not list(poll_spool_dir(config).glob("*.ready"))


def test_run_poll_cycles_until_the_duration_ends_and_a_refused_token_stops_only_its_instance(
        warehouse, sims, tmp_path, monkeypatch):
    good, bad = sims(48), sims(49)
    good.emit(15)
    bad.emit(15)
    monkeypatch.setenv("FORKALYTICS_TEST_OTHER_TOKEN", "not-the-token")
    raw = {"state_dir": str(tmp_path / "state"), "extract": FAST_EXTRACT,
           "instances": [{"url": good.url, "access_token_env": TOKEN_ENV},
                         {"url": bad.url, "access_token_env": "FORKALYTICS_TEST_OTHER_TOKEN"}],
           "poll": {"cycle_seconds": 1, "tiers": [{"max_age_minutes": 2880, "every_minutes": 0.001}]}}
    config = parse_config(raw, tmp_path / "forkalytics.yml")
    known = set(load_stream_events(warehouse, config, good, key="test:good"))
    load_stream_events(warehouse, config, bad, key="test:bad", index=1)
    good_id, bad_id = (i.instance_id for i in config.instances)
    lines: list[str] = []
    stop = threading.Event()
    report = run_poll(config, warehouse, say=lines.append, duration=2.5, stop_event=stop)
    assert stop.is_set() and report.cycles >= 2
    assert sum(line.startswith(f"poll {good_id}: ") for line in lines) == report.cycles
    refused = [line for line in lines if line.startswith(f"poll {bad_id}: ")]
    assert len(refused) == 1 and "refused the access token (HTTP 401)" in refused[0]
    assert "FORKALYTICS_TEST_OTHER_TOKEN" in refused[0] and "not-the-token" not in "\n".join(lines)
    assert report.failures == [refused[0].split("stopped: ", 1)[1]]
    assert Counter(sid for sid, _, _ in poll_rows(warehouse)) == {sid: report.cycles for sid in known}
