"""REST back-fill on demand: paging, rate limits (429), server errors, and idempotence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from extract.backfill import SeenStatuses, endpoint_for, snowflake_for
from tests.helpers import TOKEN, TOKEN_ENV, make_config, query, start_simulator, write_config

REPO = Path(__file__).resolve().parents[2]


def test_snowflake_and_endpoints():
    from datetime import datetime, timezone

    moment = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert snowflake_for(moment) >> 16 == int(moment.timestamp() * 1000)
    assert endpoint_for("public:local") == "/api/v1/timelines/public?local=true"
    assert endpoint_for("hashtag:python") == "/api/v1/timelines/tag/python"
    assert endpoint_for("list:7") == "/api/v1/timelines/list/7"


def test_seen_statuses_by_id_uri_and_version():
    seen = SeenStatuses(capacity=10)
    status = {"id": "1", "uri": "https://a/1", "created_at": "t0", "edited_at": None}
    assert seen.is_new(status)
    seen.remember(status)
    assert not seen.is_new(status)
    assert seen.is_new({**status, "edited_at": "t1"})  # an edit is a new version
    assert not seen.is_new({**status, "id": "999"})  # same post by uri
    for n in range(20):
        seen.remember({"id": str(100 + n), "created_at": "x"})
    assert seen.is_new(status)  # bounded: the oldest entries are forgotten


@pytest.mark.slow
def test_backfill_command_recovers_a_range_through_429s_and_500s(warehouse, tmp_path):
    sim = start_simulator("sim-rest.example", 21, rate_limit=4, rate_window_seconds=1.5)
    try:
        sim.emit(300)
        sim.faults.http_errors(status=500, count=2, path_prefix="/api/v1/timelines")
        config = make_config(tmp_path, [(sim.url, ["public"])], backfill_page_size=20)
        path = write_config(tmp_path, config, warehouse.dsn)
        env = {**os.environ, "FORKALYTICS_DATABASE_URL": warehouse.dsn, TOKEN_ENV: TOKEN}
        command = [sys.executable, "-m", "orchestration.cli", "--config", str(path), "backfill", "--hours", "2"]
        first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr
        truth = sim.ground_truth()
        alive = {sid for sid, s in truth.statuses.items() if not s.deleted and s.on_public_timeline}
        rows = query(warehouse, "select payload_status_id, stream, source from raw.stream_events")
        assert {sid for sid, _, _ in rows} == alive
        assert {(stream, source) for _, stream, source in rows} == {("/api/v1/timelines/public", "backfill")}
        assert len(rows) == len(alive)  # paging never returned a status twice
        assert len(alive) > 100  # more than the rate limit allows at once: 429s were waited out
        assert "statuses in" in first.stdout and TOKEN not in first.stdout + first.stderr
    finally:
        sim.stop()
