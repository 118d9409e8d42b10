"""``forkalytics retention`` on a raw log partitioned by month: raw payloads of deleted posts are redacted,
events older than the window are archived then deleted, only once dbt has incorporated them; afterwards the
marts are unchanged (also after a --full-refresh) and ``forkalytics load --from`` restores the same raw rows."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import psycopg2
import pytest

from orchestration.cli import main
from orchestration.retention import run_retention
from tests.dbt.marts_snapshot import AUDIT_COLUMNS, snapshot_marts
from tests.engagement.engagement_data import Clock, dbt, emit_paced, load_as_streamed, sim_config, start_sim, utc
from tests.helpers import TOKEN, TOKEN_ENV, database_prefix, query, scratch_warehouse

RAW_ROW = ("event_id, instance_id, instance_url, stream, source, event_type, received_at, payload::text, "
           "payload_status_id, payload_error, payload_escaped, payload_raw_base64")
NO_LOOKBACK = {"incremental_lookback_hours": 0}  # loads in a test are seconds apart, not hours


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture
def partitioned_warehouse(pg_server, request, tmp_path):
    with scratch_warehouse(pg_server, database_prefix("ret", request.node.name), tmp_path / "unused",
                           partition_raw_by_month=True) as warehouse:
        yield warehouse


def build(warehouse, tmp_path, *extra: str) -> None:
    dbt(warehouse.dsn, tmp_path / "dbt", "run", "--exclude", "source:enrichment+", *extra, vars=NO_LOOKBACK)


@pytest.mark.slow
def test_archive_prune_and_replay_keep_history(partitioned_warehouse, tmp_path, monkeypatch, capsys):
    warehouse = partitioned_warehouse
    clock = Clock(utc(2026, 9, 25, 8, 0))
    sim = start_sim(clock, 61)
    try:
        config = sim_config(tmp_path, [sim])
        old = emit_paced(sim, clock, 80, 4 * 3600)  # 25 Sep - 8 Oct
        load_as_streamed(warehouse.dsn, config, old, "stream:old")
        clock.now = utc(2026, 11, 10, 8, 0)
        recent = emit_paced(sim, clock, 40, 600)
        load_as_streamed(warehouse.dsn, config, recent, "stream:recent")
    finally:
        sim.stop()
    now = utc(2026, 11, 12, 0, 0)
    cutoff = now - timedelta(days=30)
    old_count = query(warehouse, "select count(*) from raw.stream_events where received_at < %s", (cutoff,))[0][0]
    assert old_count > 50

    lines: list[str] = []
    report = run_retention(config, warehouse, say=lines.append, now=now, settle_hours=0)
    assert "dbt has not built the event log yet" in lines[0] and report.archived == 0  # nothing incorporated yet
    build(warehouse, tmp_path)
    marts = snapshot_marts(warehouse.dsn)
    assert marts["posts"] and marts["hashtag_hourly_stats"]

    # 1. redaction only (a window longer than the data): deleted posts lose their text in raw (the loader
    # already redacts what it can when it loads a delete; retention redacts whatever is left, here a row
    # whose text is put back as an older installation would have stored it)
    conn = psycopg2.connect(warehouse.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("""update raw.stream_events set payload = (payload - 'forkalytics_redacted')
                           || '{"content": "<p>secret</p>"}'::jsonb
                       where event_id = (select r.event_id from raw.stream_events r join marts.posts p
                                         on p.instance_id = r.instance_id and p.post_id = r.payload_status_id
                                         where p.deleted_at is not null and r.event_type = 'update'
                                         and r.received_at < %s order by r.event_id limit 1)""", (cutoff,))
        assert cur.rowcount == 1
    conn.close()
    report = run_retention(config, warehouse, say=lines.append, now=now, raw_events_days=1000, settle_hours=0)
    assert report.archived == 0 and report.redacted == 1
    assert query(warehouse, "select count(*) from raw.stream_events where payload::text like '%%secret%%'") == [(0,)]
    redacted = query(warehouse, "select r.payload->>'content', r.payload->>'forkalytics_redacted' = r.event_id "
                                "from raw.stream_events r join marts.posts p on p.instance_id = r.instance_id "
                                "and p.post_id = r.payload_status_id where p.deleted_at is not null "
                                "and r.event_type in ('update', 'status.update') "
                                "and r._dlt_load_id < (select max(_dlt_load_id) from raw.stream_events)")
    assert len(redacted) > 5 and set(redacted) == {("", True)}
    assert run_retention(config, warehouse, say=lines.append, now=now, raw_events_days=1000,
                         settle_hours=0).redacted == 0  # idempotent
    before = sorted(query(warehouse, f"select {RAW_ROW} from raw.stream_events where received_at < %s", (cutoff,)))

    # 2. archive and delete what is older than 30 days; the emptied September partition goes
    report = run_retention(config, warehouse, say=lines.append, now=now, settle_hours=0)
    assert report.archived == report.deleted == old_count and report.not_incorporated == 0
    assert report.archive is not None and report.archive.suffixes[-2:] == [".jsonl", ".gz"]
    with gzip.open(report.archive, "rt", encoding="utf-8") as handle:
        archived = [json.loads(line) for line in handle]
    assert len(archived) == old_count and {line["source"] for line in archived} == {"stream"}
    assert query(warehouse, "select count(*) from raw.stream_events where received_at < %s", (cutoff,)) == [(0,)]
    assert report.dropped_partitions == ["stream_events_2026_09"]
    assert "archived" in lines[-1] and str(report.archive) in lines[-1]

    # 3. the marts keep the history: incremental build, and a full refresh too
    build(warehouse, tmp_path)
    assert snapshot_marts(warehouse.dsn) == marts
    build(warehouse, tmp_path, "--full-refresh")
    assert snapshot_marts(warehouse.dsn) == marts

    # 4. the archive replays to the same raw rows (forkalytics load --from), and changes no mart
    config_path = tmp_path / "forkalytics.yml"
    config_path.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                                       "warehouse": {"partition_raw_by_month": True}}))
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", warehouse.dsn)
    assert main(["--config", str(config_path), "load", "--from", str(report.archive)]) == 0
    assert f"loaded {old_count:,} events" in capsys.readouterr().out
    after = sorted(query(warehouse, f"select {RAW_ROW} from raw.stream_events where received_at < %s", (cutoff,)))
    assert after == before
    build(warehouse, tmp_path)
    assert marts_without_load_times(warehouse.dsn) == without_load_times(warehouse.dsn, marts)


def load_time_columns(dsn: str) -> dict[str, set[int]]:
    """Per mart, the positions of the columns that record when events were loaded or processed."""
    rows = query_dsn(dsn, "select table_name, ordinal_position from information_schema.columns "
                          "where table_schema = 'marts' and column_name <> all(%s) "
                          "and (column_name like '%%loaded_at' or column_name like '%%processed_at')",
                     (sorted(AUDIT_COLUMNS),))
    positions: dict[str, set[int]] = {}
    for table, position in rows:
        positions.setdefault(table, set()).add(position)
    return positions


def without_load_times(dsn: str, marts: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The marts' rows without the load-time columns (replaying an archive loads the events again, later)."""
    skip = load_time_columns(dsn)
    result = {}
    for table, rows in marts.items():
        # snapshot_marts already drops the audit columns; positions count from 1 over the remaining columns
        positions = {p - 1 - sum(1 for q in audit_positions(dsn, table) if q < p) for p in skip.get(table, ())}
        result[table] = sorted(tuple(v for i, v in enumerate(row) if i not in positions) for row in rows)
    return result


def audit_positions(dsn: str, table: str) -> list[int]:
    return [row[0] for row in query_dsn(dsn, "select ordinal_position from information_schema.columns where "
                                             "table_schema = 'marts' and table_name = %s "
                                             "and column_name = any(%s)", (table, sorted(AUDIT_COLUMNS)))]


def marts_without_load_times(dsn: str) -> dict[str, list[tuple]]:
    return without_load_times(dsn, snapshot_marts(dsn))


def query_dsn(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_retention_command_reports_in_one_line(warehouse, tmp_path, monkeypatch, capsys):
    config_path = tmp_path / "forkalytics.yml"
    config_path.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "retention": {"raw_events_days": 7}}))
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", warehouse.dsn)
    assert main(["--config", str(config_path), "retention"]) == 0
    assert "dbt has not built the event log yet" in capsys.readouterr().out
    assert main(["--config", str(config_path), "retention", "--raw-days", "0"]) == 2
    assert "--raw-days must be a positive number" in capsys.readouterr().err
    config_path.write_text(json.dumps({"retention": {"raw_events_days": "a month"}}))
    assert main(["--config", str(config_path), "retention"]) == 2
    assert "retention.raw_events_days must be a number" in capsys.readouterr().err
