"""End to end: simulated Mastodon instances → streamer → durable buffer → dlt → raw.stream_events.

Real PostgreSQL, real dlt, the real Mastodon.py client (discovery, back-fill) against the simulator.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from extract.consent import PrivacyPolicy
from orchestration.errors import UserError
from tests.helpers import (
    TOKEN,
    TOKEN_ENV,
    StreamerThread,
    make_config,
    query,
    start_simulator,
    version_key,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture
def sims():
    started = []

    def start(domain: str, seed: int, **overrides):
        sim = start_simulator(domain, seed, **overrides)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def stream_rows(warehouse, instance_id: str) -> list[tuple[str, str, str]]:
    """(event type, status id, edited_at) of every event loaded from a stream of this instance."""
    rows = query(warehouse, "select event_type, payload #>> '{}', payload_status_id, payload->>'edited_at' "
                            "from raw.stream_events where instance_id = %s and source = 'stream'", (instance_id,))
    return [(t, sid or "", edited or "") for t, _, sid, edited in rows]


def expected_on(sim, stream: str) -> list[tuple[str, str, str]]:
    return [version_key(e.event, e.data) for e in sim.ground_truth().events if stream in e.written_to]


def alive_statuses(sim, *, local: bool | None = None) -> set[str]:
    truth = sim.ground_truth()
    return {sid for sid, s in truth.statuses.items()
            if not s.deleted and s.on_public_timeline and (local is None or s.local == local)}


def captured_status_ids(warehouse, instance_id: str) -> set[str]:
    rows = query(warehouse, "select distinct payload_status_id from raw.stream_events where instance_id = %s "
                            "and event_type in ('update', 'status.update') and payload_status_id is not null",
                 (instance_id,))
    return {sid for (sid,) in rows}


def loaded_count(warehouse, instance_id: str) -> int:
    return query(warehouse, "select count(*) from raw.stream_events where instance_id = %s", (instance_id,))[0][0]


def test_two_instances_every_event_exactly_once(warehouse, sims, tmp_path, monkeypatch):
    one = sims("sim-one.example", 1)
    two = sims("sim-two.example", 2)
    config = make_config(tmp_path, [(one.url, ["public:local"]), (two.url, ["public"])])
    ids = [i.instance_id for i in config.instances]
    with StreamerThread(config, warehouse) as running:
        for _ in range(4):
            one.emit(60)
            two.emit(25)
        expected_one, expected_two = expected_on(one, "public:local"), expected_on(two, "public")
        wait_for(lambda: stream_rows(warehouse, ids[0]).__len__() >= len(expected_one)
                 and stream_rows(warehouse, ids[1]).__len__() >= len(expected_two), what="all events loaded")
        report = running.stop()

    assert len(expected_one) > 40 and len(expected_two) > 40
    assert Counter(stream_rows(warehouse, ids[0])) == Counter(expected_one)
    assert Counter(stream_rows(warehouse, ids[1])) == Counter(expected_two)
    # none twice
    total, distinct = query(warehouse, "select count(*), count(distinct event_id) from raw.stream_events")[0]
    assert total == distinct
    assert {t for t, _, _ in expected_one} >= {"update", "delete"}
    # the instances were recorded as observed at start-up
    observed = query(warehouse, "select instance_id, api_version, software_version, streams::text "
                                "from raw.instances order by instance_id")
    assert [(row[0], row[1]) for row in observed] == sorted((i, "v2") for i in ids)
    assert report.failures == []
    # the buffer is empty: everything was loaded
    assert list((config.state_dir / "spool").glob("*.ready")) == []


def test_dropped_connection_gap_is_backfilled(warehouse, sims, tmp_path):
    sim = sims("sim-drop.example", 3)
    config = make_config(tmp_path, [(sim.url, ["public:local"])])
    instance_id = config.instances[0].instance_id
    with StreamerThread(config, warehouse) as running:
        sim.emit(20)
        dropped = sim.faults.drop_connections()
        sim.emit(40)  # published while the stream is down: lost to it, only REST has them
        wait_for(lambda: alive_statuses(sim, local=True) <= captured_status_ids(warehouse, instance_id),
                 timeout=60, what="the gap to be back-filled")
        report = running.stop()
    assert dropped >= 1
    missed = [e for e in sim.ground_truth().events if e.event == "update" and "public:local" in e.streams
              and "public:local" not in e.written_to]
    assert missed, "the drop should have made the stream miss posts"
    backfilled = query(warehouse, "select count(*) from raw.stream_events where source = 'backfill'")[0][0]
    assert backfilled >= 1
    assert report.reconnects >= 1
    assert alive_statuses(sim, local=True) <= captured_status_ids(warehouse, instance_id)
    # a back-filled status the stream had already delivered in the same version is not stored again
    dupes = query(warehouse, """
        select payload_status_id, coalesce(payload->>'edited_at', ''), count(*) from raw.stream_events
        where event_type in ('update', 'status.update') group by 1, 2 having count(*) > 1""")
    assert dupes == []


def test_stalled_stream_is_detected_and_backfilled(warehouse, sims, tmp_path):
    sim = sims("sim-stall.example", 4)
    config = make_config(tmp_path, [(sim.url, ["public:local"])], heartbeat_timeout_seconds=1.0)
    instance_id = config.instances[0].instance_id
    with StreamerThread(config, warehouse) as running:
        sim.emit(10)
        assert sim.faults.stall(5.0) >= 1
        sim.emit(30)  # no heartbeat, no events: the watchdog must notice within a second
        wait_for(lambda: alive_statuses(sim, local=True) <= captured_status_ids(warehouse, instance_id),
                 timeout=60, what="the stalled gap to be back-filled")
        report = running.stop()
    assert report.reconnects >= 1
    assert any("heartbeat" in m or "reconnect" in m for m in running.messages) or report.reconnects >= 1


def test_malformed_frames_are_recorded_and_the_stream_goes_on(warehouse, sims, tmp_path):
    sim = sims("sim-bad.example", 5)
    # a later delete of the huge post would blank its stored text (privacy.redact_deletes_at_load)
    config = replace(make_config(tmp_path, [(sim.url, ["public:local"])]),
                     privacy=PrivacyPolicy(redact_deletes_at_load=False))
    instance_id = config.instances[0].instance_id
    kinds = ["bad_json", "invalid_utf8", "nul_escape", "no_data", "unknown_event", "huge"]
    with StreamerThread(config, warehouse) as running:
        for kind in kinds:
            sim.faults.malformed_next(kind)
        sim.emit(200)
        expected = [e for e in sim.ground_truth().events if "public:local" in e.written_to]
        wait_for(lambda: loaded_count(warehouse, instance_id) >= len(expected), what="all frames loaded")
        running.stop()
    malformed = {e.malformed for e in expected if e.malformed}
    assert malformed == set(kinds)
    errors = dict(query(warehouse, "select payload_error, count(*) from raw.stream_events "
                                   "where payload_error is not null group by 1"))
    joined = " | ".join(errors)
    for fragment in ("not valid JSON", "not valid UTF-8", "\\u0000", "without a payload", "unknown event type"):
        assert fragment in joined
    # the huge frame is stored whole, and the valid frames around the bad ones all landed
    sizes = query(warehouse, "select max(length(payload::text)) from raw.stream_events")[0][0]
    assert sizes > 200_000
    good = [e for e in expected if not e.malformed]
    assert loaded_count(warehouse, instance_id) == len(expected)
    assert len(good) >= 20


def test_disabled_live_feed_is_refused_clearly(warehouse, sims, tmp_path):
    sim = sims("sim-closed.example", 6, live_feeds="disabled")
    config = make_config(tmp_path, [(sim.url, ["public"])])
    from orchestration.streamer import Streamer

    messages: list[str] = []
    with pytest.raises(UserError, match="has disabled its local and remote live feed"):
        Streamer(config, warehouse, say=messages.append).run(duration=1)
    assert any("hashtag streams may still work" in m for m in messages)


def test_hashtag_stream_still_works_where_live_feeds_are_disabled(warehouse, sims, tmp_path):
    sim = sims("sim-tags.example", 7, live_feeds="disabled", scenario="spike", spike_start_event=0)
    config = make_config(tmp_path, [(sim.url, ["hashtag:forkaspike"])])
    instance_id = config.instances[0].instance_id
    with StreamerThread(config, warehouse) as running:
        sim.emit(60)
        expected = expected_on(sim, "hashtag:forkaspike")
        wait_for(lambda: len(stream_rows(warehouse, instance_id)) >= len(expected), what="hashtag events")
        running.stop()
    assert len(expected) > 5
    assert Counter(stream_rows(warehouse, instance_id)) == Counter(expected)


def test_missing_token_is_explained(warehouse, sims, tmp_path, monkeypatch):
    sim = sims("sim-auth.example", 8)
    monkeypatch.delenv(TOKEN_ENV)
    config = make_config(tmp_path, [(sim.url, ["public:local"])])
    from orchestration.streamer import Streamer

    messages: list[str] = []
    report = Streamer(config, warehouse, say=messages.append).run(duration=3)
    assert report.failures, messages
    text = " ".join(report.failures)
    assert "needs a user access token" in text and TOKEN_ENV in text


def test_rejected_token_is_explained_and_never_printed(warehouse, sims, tmp_path, monkeypatch):
    sim = sims("sim-wrong.example", 9)
    monkeypatch.setenv(TOKEN_ENV, "wrong-secret-token-123")
    config = make_config(tmp_path, [(sim.url, ["public:local"])])
    from orchestration.streamer import Streamer

    messages: list[str] = []
    with pytest.raises(UserError) as caught:
        Streamer(config, warehouse, say=messages.append).run(duration=1)
    text = str(caught.value) + " ".join(messages)
    assert "rejected the access token" in text and TOKEN_ENV in text and "401" in text
    assert "wrong-secret-token-123" not in text


def test_record_and_replay_an_archive(warehouse, sims, tmp_path, pg_server):
    from extract.archive import load_archive
    from extract.raw_loader import RawLoader

    sim = sims("sim-rec.example", 10)
    config = make_config(tmp_path, [(sim.url, ["public:local"])])
    archive = tmp_path / "capture.jsonl"
    running = StreamerThread(config, None)
    running.streamer.record = archive
    with running:
        sim.emit(40)
        expected = expected_on(sim, "public:local")
        wait_for(lambda: sum(w.stats.events for w in running.streamer.workers) >= len(expected),
                 what="events recorded")
        running.stop()
    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert len(lines) == len(expected)
    assert {"event", "payload", "instance", "stream", "received_at"} <= set(lines[0])

    loader = RawLoader(warehouse.dsn, tmp_path / "load-state")
    first = load_archive(archive, loader, batch_size=5)
    again = load_archive(archive, loader, batch_size=5)
    batches = -(-len(expected) // 5)
    assert first.rows == len(expected) and first.batches == batches
    assert again.rows == 0 and again.skipped_batches == batches
    instance_id = config.instances[0].instance_id
    rows = query(warehouse, "select event_type, payload_status_id, payload->>'edited_at' from raw.stream_events "
                            "where instance_id = %s and source = 'import'", (instance_id,))
    assert Counter((t, s or "", e or "") for t, s, e in rows) == Counter(expected)


def test_list_and_local_hashtag_streams(warehouse, sims, tmp_path):
    sim = sims("sim-list.example", 12)
    config = make_config(tmp_path, [(sim.url, ["list:1", "hashtag:local:dailychatter"])])
    instance_id = config.instances[0].instance_id
    with StreamerThread(config, warehouse) as running:
        sim.emit(150)
        expected = expected_on(sim, "list:1") + expected_on(sim, "hashtag:local:dailychatter")
        wait_for(lambda: len(stream_rows(warehouse, instance_id)) >= len(expected), what="list and tag events")
        running.stop()
    assert expected_on(sim, "list:1")
    assert Counter(stream_rows(warehouse, instance_id)) == Counter(expected)
    streams = {s for (s,) in query(warehouse, "select distinct stream from raw.stream_events")}
    assert streams <= {"list:1", "hashtag:local:dailychatter"} and "list:1" in streams
