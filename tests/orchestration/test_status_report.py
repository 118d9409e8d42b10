"""``forkalytics status``: source freshness per instance, failed enrichment, the last and the last successful
cycle, as a table and as JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from enrichment.schema import ensure_schema
from orchestration.cli import main
from orchestration.cycle import CycleReport, StepResult, append_cycle_record
from orchestration.status import collect, render_table
from tests.helpers import make_config


def _event(cur, instance_id: str, received_at: datetime, n: int) -> None:
    cur.execute(
        "insert into raw.stream_events (event_id, instance_id, instance_url, stream, source, event_type, "
        "received_at, payload, payload_status_id, payload_escaped, batch_key, _dlt_load_id) "
        "values (%s, %s, %s, 'public', 'stream', 'delete', %s, %s, %s, false, 'b', %s)",
        (f"{instance_id}-{n}", instance_id, f"https://{instance_id}", received_at, json.dumps(str(n)), str(n),
         f"{received_at.timestamp() + 2:.6f}"))


def test_status_freshness_failures_and_cycles(warehouse, tmp_path, monkeypatch, capsys):
    now = datetime.now(timezone.utc)
    config = make_config(tmp_path, [("https://fresh.example", ["public"]), ("https://stale.example", ["public"])])
    conn = warehouse.connect()
    ensure_schema(conn)
    with conn, conn.cursor() as cur:
        for n in range(3):
            _event(cur, "fresh.example", now - timedelta(seconds=30 + n), n)
        _event(cur, "stale.example", now - timedelta(hours=30), 9)
        cur.execute(
            "insert into enrichment.post_sentiments (instance_id, post_id, status_version_seq, model, prompt_version, "
            "provider, status, error, input_hash, source_fingerprint, first_attempt_at, last_attempt_at, "
            "attempt_count) values ('fresh.example', '1', 1, 'm', 'p', 'x', 'failed', 'timeout', 'h', 'f', now(), "
            "now(), 3), ('fresh.example', '2', 1, 'm', 'p', 'x', 'scored', null, 'h2', 'f', now(), now(), 1)")
        cur.execute(
            "insert into enrichment.daily_summaries (instance_id, summary_date, time_zone, window_start, window_end, "
            "model, prompt_version, provider, status, input_stats_json, input_hash, error, last_attempt_at) values "
            "('stale.example', '2026-01-01', 'UTC', '2026-01-01', '2026-01-02', 'm', 'p', 'x', 'failed', '{}', "
            "'h', 'provider down', now())")
    conn.close()
    good = CycleReport(started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:01:00+00:00",
                       steps=[StepResult("load", True, "0 events")])
    bad = CycleReport(started_at="2026-01-01T00:05:00+00:00", finished_at="2026-01-01T00:06:00+00:00",
                      steps=[StepResult("load", True, "0 events"), StepResult("dbt build", False, "failed")])
    append_cycle_record(config.state_dir, good)
    append_cycle_record(config.state_dir, bad)

    status = collect(config, warehouse)
    by_id = {s.instance_id: s for s in status.instances}
    assert by_id["fresh.example"].events_per_minute > 0 and by_id["fresh.example"].load_lag_seconds == 2.0
    assert by_id["fresh.example"].failed_enrichment == 1 and by_id["stale.example"].failed_enrichment == 1
    assert status.source_freshness["raw.stream_events fresh.example"]["state"] == "ok"
    assert status.source_freshness["raw.stream_events stale.example"]["state"] == "error"
    assert "enrichment.post_sentiments" in status.source_freshness
    assert status.last_cycle["success"] is False and status.last_cycle["failed_steps"] == ["dbt build"]
    assert status.last_successful_cycle_at == "2026-01-01T00:01:00+00:00"
    table = render_table(status)
    assert "failed: dbt build" in table and "last successful cycle: 2026-01-01T00:01:00+00:00" in table
    assert "stale sources: raw.stream_events stale.example (30.0h old)" in table

    config_path = tmp_path / "forkalytics.yml"
    config_path.write_text(json.dumps({"state_dir": str(config.state_dir),
                                       "instances": [{"url": "https://fresh.example"}]}))
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", warehouse.dsn)
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["last_successful_cycle_at"] == "2026-01-01T00:01:00+00:00"
    assert {i["instance_id"] for i in document["instances"]} == {"fresh.example", "stale.example"}
