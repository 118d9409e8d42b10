"""``forkalytics replay``: archives loaded first, every mart rebuilt with a full refresh, on a warehouse whose
raw.stream_events is partitioned by month; replaying again changes nothing."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest

from orchestration.cli import main
from orchestration.config import load_config
from orchestration.replay import replay
from tests.helpers import database_prefix, query, scratch_warehouse, start_simulator
from tests.orchestration.ops_helpers import snapshot_marts

pytestmark = pytest.mark.slow


@pytest.fixture
def partitioned_warehouse(pg_server, request, tmp_path):
    with scratch_warehouse(pg_server, database_prefix("part", request.node.name), tmp_path / "unused",
                           partition_raw_by_month=True) as warehouse:
        yield warehouse


def test_replay_loads_archives_and_rebuilds_partitioned_raw(partitioned_warehouse, tmp_path, monkeypatch, capsys):
    warehouse = partitioned_warehouse
    sim = start_simulator("sim-replay.example", 81)
    try:
        events = sim.emit(60)
    finally:
        sim.stop()
    archive = tmp_path / "history.jsonl"
    start = datetime(2026, 9, 20, tzinfo=timezone.utc)
    with open(archive, "w") as handle:
        for index, event in enumerate(events):  # two weeks apart: September and October
            moment = start + timedelta(days=14 * (index * 2 // len(events)), minutes=index)
            handle.write(json.dumps({"event": event.event, "payload": event.data, "instance": sim.url,
                                     "stream": "public:local", "received_at": moment.isoformat()}) + "\n")
    config_path = tmp_path / "forkalytics.yml"
    config_path.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                                       "warehouse": {"partition_raw_by_month": True}}))
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", warehouse.dsn)

    assert main(["--config", str(config_path), "replay", "--archive", str(archive), "--quiet"]) == 0
    output = capsys.readouterr().out
    assert "loading history.jsonl: 60 rows" in output and "replay ok" in output, output
    partitions = {row[0] for row in query(warehouse, "select inhrelid::regclass::text from pg_inherits "
                                                     "where inhparent = 'raw.stream_events'::regclass")}
    assert {"raw.stream_events_2026_09", "raw.stream_events_2026_10"} <= partitions
    assert query(warehouse, "select count(*) from raw.stream_events where source = 'import'") == [(60,)]
    posts = {row[0] for row in query(warehouse, "select post_id from marts.posts")}
    assert posts == {e.status_id for e in events if e.event in ("update", "status.update")}
    before = snapshot_marts(warehouse.dsn)

    lines: list[str] = []
    report = replay(load_config(config_path), warehouse, say=lines.append, archives=[archive], quiet_dbt=True)
    assert report.success, lines
    assert any("0 new, 1 batch(es) already loaded" in line for line in lines), lines
    assert query(warehouse, "select count(*) from raw.stream_events") == [(60,)]
    assert snapshot_marts(warehouse.dsn) == before

    # With nothing pruned, a replay rebuilds the deduplicated event history itself from raw.
    conn = psycopg2.connect(warehouse.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("delete from intermediate.int_stream_events__deduped")
    conn.close()
    lines = []
    report = replay(load_config(config_path), warehouse, say=lines.append, quiet_dbt=True)
    assert report.success, lines
    assert snapshot_marts(warehouse.dsn) == before

    # Once retention has archived and pruned raw events, a replay without those archives keeps the history.
    archive_dir = tmp_path / "state" / "archive"
    archive_dir.mkdir(parents=True)
    shutil.copy(archive, archive_dir / "stream_events_20260920-20260930_1.jsonl")
    conn = psycopg2.connect(warehouse.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("delete from raw.stream_events where received_at < '2026-10-01'")
        assert cur.rowcount > 0
    conn.close()
    lines = []
    report = replay(load_config(config_path), warehouse, say=lines.append, quiet_dbt=True)
    assert report.success, lines
    assert any("history is kept" in line for line in lines), lines
    assert snapshot_marts(warehouse.dsn) == before
