"""``forkalytics schedule``: two cycles against a simulated instance, one scheduler at a time, a clean stop
on SIGTERM with every received event loaded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration.scheduler import find_retention
from tests.helpers import FAST_EXTRACT, TOKEN, TOKEN_ENV, query, start_simulator, version_key, wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _cycles(state_dir: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in (state_dir / "cycles.jsonl").read_text().splitlines()]
    except OSError:
        return []


def _streamed(state_dir: Path) -> int:
    try:
        document = json.loads((state_dir / "stream_status.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(stream.get("events", 0) for stream in document.get("streams", []))


def test_schedule_runs_two_cycles_and_stops_cleanly_on_sigterm(warehouse, tmp_path):
    sim = start_simulator("sim-schedule.example", 71)
    state_dir = tmp_path / "state"
    config_path = tmp_path / "forkalytics.yml"
    config_path.write_text(json.dumps({
        "state_dir": str(state_dir),
        "instances": [{"url": sim.url, "streams": ["public:local"], "access_token_env": TOKEN_ENV}],
        # segments are sealed only by size or on shutdown: what arrives last is still buffered at SIGTERM
        "extract": {**FAST_EXTRACT, "batch_max_seconds": 3600},
        "poll": {"cycle_seconds": 2},
        "schedule": {"cycle_minutes": 0.05, "daily_at": "00:00"},
    }))
    env = {**os.environ, "FORKALYTICS_DATABASE_URL": warehouse.dsn, TOKEN_ENV: TOKEN}
    command = [sys.executable, "-m", "orchestration.cli", "--config", str(config_path), "schedule"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        sim.wait_for_connections(1, timeout=60, stream="public:local")
        first = [e for e in sim.emit(40) if "public:local" in e.written_to]
        wait_for(lambda: len(_cycles(state_dir)) >= 2 or process.poll() is not None, timeout=240,
                 interval=0.5, what="two cycles")
        assert process.poll() is None

        second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert "Another 'forkalytics schedule' is already running" in second.stderr
        assert "Traceback" not in second.stderr

        last = [e for e in sim.emit(25) if "public:local" in e.written_to]
        expected = len(first) + len(last)
        wait_for(lambda: _streamed(state_dir) >= expected, timeout=60, what="the last events to be received")
        assert query(warehouse, "select count(*) from raw.stream_events where source = 'stream'")[0][0] < expected
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        sim.stop()

    assert process.returncode == 0, output
    assert "received SIGTERM" in output and "nothing left in the buffers" in output, output
    assert "Traceback" not in output
    cycles = _cycles(state_dir)
    assert len(cycles) >= 2
    assert all(c["success"] for c in cycles[:2]), [c["failed_steps"] for c in cycles]
    assert "cycle 1: ok" in output and "cycle 2: ok" in output
    assert "daily summary: ok" in output
    # cycles test the rows they wrote; the daily run tests whole tables
    assert "daily tests: ok" in output, output
    # retention runs daily when the retention job is installed
    assert ("retention: ok" if find_retention() is not None else "retention: not installed") in output, output

    wanted = sorted(version_key(e.event, e.data) for e in first + last)
    rows = query(warehouse, "select event_type, payload_status_id, coalesce(payload->>'edited_at', '') "
                            "from raw.stream_events where source = 'stream'")
    assert sorted((t, sid or "", edited) for t, sid, edited in rows) == wanted
    assert not list((state_dir / "spool").glob("*.ready")) and not list((state_dir / "spool").glob("*.open"))
    # the first cycles built the marts from what had been loaded by then
    assert query(warehouse, "select count(*) from marts.posts")[0][0] > 0
