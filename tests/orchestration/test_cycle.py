"""``forkalytics run``: one whole cycle from buffered events to marts; running it twice changes nothing."""

from __future__ import annotations

import json

import pytest

from orchestration.cycle import run_cycle
from orchestration.status import collect, last_cycle
from tests.helpers import TOKEN, TOKEN_ENV, make_config, query, start_simulator
from tests.orchestration.ops_helpers import buffer_events, snapshot_marts

pytestmark = pytest.mark.slow


def test_run_twice_gives_identical_marts(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sim = start_simulator("sim-cycle.example", 61)
    config = make_config(tmp_path, [(sim.url, ["public:local"])])
    try:
        received = buffer_events(config, sim, 80)
    finally:
        sim.stop()
    assert query(warehouse, "select count(*) from raw.stream_events") == [(0,)]

    lines: list[str] = []
    first = run_cycle(config, warehouse, say=lines.append)
    assert first.success, lines
    assert [step.name for step in first.steps] == ["load", "dbt build", "enrich", "dbt build enrichment"]
    assert len(lines) == 4 and all(": ok: " in line for line in lines), lines
    assert first.steps[0].detail["rows"] == len(received)
    posts = {row[0] for row in query(warehouse, "select post_id from marts.posts")}
    assert posts == {e.status_id for e in received if e.event in ("update", "status.update")}
    scored = query(warehouse, "select count(*) from marts.post_sentiments where sentiment_status = 'scored'")
    assert scored[0][0] > 0
    before = snapshot_marts(warehouse.dsn)

    second = run_cycle(config, warehouse, say=lines.append)
    assert second.success, lines[4:]
    assert second.steps[0].detail["rows"] == 0
    assert snapshot_marts(warehouse.dsn) == before

    records = [json.loads(line) for line in (config.state_dir / "cycles.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["success"] for r in records)
    assert last_cycle(config.state_dir)["finished_at"] == records[-1]["finished_at"]
    status = collect(config, warehouse)
    assert status.last_successful_cycle_at == records[-1]["finished_at"]


def test_failed_step_is_reported_and_exit_code_is_one(warehouse, tmp_path):
    config = make_config(tmp_path, [])
    with warehouse.connect() as conn, conn.cursor() as cur:
        # an event from an unknown source: the raw contract's data test fails the build
        cur.execute("insert into raw.stream_events (event_id, instance_id, instance_url, stream, source, event_type, "
                    "received_at, payload, payload_escaped, batch_key, _dlt_load_id) values ('e1', 'x.example', "
                    "'https://x.example', 'public', 'bogus', 'delete', now(), '\"1\"', false, 'b', '1.0')")
    lines: list[str] = []
    report = run_cycle(config, warehouse, say=lines.append, enrich=False)
    assert not report.success and report.exit_code == 1
    assert "dbt build" in report.failed_steps
    assert any(line.startswith("dbt build: FAILED") for line in lines), lines
    record = last_cycle(config.state_dir)
    assert record["success"] is False and "dbt build" in record["failed_steps"]
