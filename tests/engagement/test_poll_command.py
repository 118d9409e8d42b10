"""``forkalytics poll`` on the command line: one cycle with --once, bad options in one sentence, and a clean
stop on SIGTERM (what was fetched is loaded, nothing stays buffered)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from extract.raw_loader import RawLoader
from orchestration.cli import main
from tests.engagement.engagement_data import load_as_streamed, sim_config
from tests.helpers import FAST_EXTRACT, TOKEN, TOKEN_ENV, query, start_simulator, wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def write_poll_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "forkalytics.yml"
    path.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"),
        "instances": [{"url": url, "streams": ["public"], "access_token_env": TOKEN_ENV}],
        "extract": FAST_EXTRACT,
        "poll": {"tiers": [{"max_age_minutes": 2880, "every_minutes": 0.001}], "cycle_seconds": 0.5}}))
    return path


def test_poll_once_and_a_clean_stop_on_sigterm(warehouse, tmp_path, monkeypatch, capsys):
    sim = start_simulator("sim-poll-cli.example", 71)
    try:
        events = sim.emit(40)
        config = sim_config(tmp_path, [sim])
        load_as_streamed(warehouse.dsn, config, events, "stream:cli")
        known = {sid for (sid,) in query(warehouse, "select distinct payload_status_id from raw.stream_events "
                                                    "where event_type = 'update'")}
        path = write_poll_config(tmp_path, sim.url)
        monkeypatch.setenv("FORKALYTICS_DATABASE_URL", warehouse.dsn)

        assert main(["--config", str(path), "poll", "--duration", "0"]) == 2
        assert "--duration must be a positive number of seconds" in capsys.readouterr().err
        threads: list[bool] = []
        drain = RawLoader.drain_spool

        def drain_and_note_thread(self, *args, **kwargs):
            threads.append(threading.current_thread() is threading.main_thread())
            return drain(self, *args, **kwargs)

        monkeypatch.setattr(RawLoader, "drain_spool", drain_and_note_thread)
        assert main(["--config", str(path), "poll", "--once"]) == 0
        # dlt swallows a SIGTERM that arrives while it loads on the main thread: the poller loads elsewhere
        assert threads and not any(threads)
        monkeypatch.setattr(RawLoader, "drain_spool", drain)
        out = capsys.readouterr().out
        assert "poll: 1 cycle(s)" in out and f"{config.instances[0].instance_id}:" in out
        first = query(warehouse, "select count(*) from raw.stream_events where event_type in ('poll', 'poll.missing')")
        assert first[0][0] >= len(known) - 5 > 20

        log = tmp_path / "poll.log"
        env = {**os.environ, "FORKALYTICS_DATABASE_URL": warehouse.dsn, TOKEN_ENV: TOKEN}
        with open(log, "w") as handle:
            process = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "--config", str(path), "poll"],
                                       cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: query(warehouse, "select count(*) from raw.stream_events where event_type in "
                                              "('poll', 'poll.missing')")[0][0] >= 2 * first[0][0],
                     timeout=60, what="a second cycle loaded by the running poller")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
    finally:
        sim.stop()
    output = log.read_text()
    assert "received SIGTERM" in output and "cycle(s)" in output and "Traceback" not in output, output
    spool = tmp_path / "state" / "spool-poll"
    assert not list(spool.glob("*.ready")) and not list(spool.glob("*.open"))
