"""``forkalytics status`` tells a streaming instance from a stalled one."""

from __future__ import annotations

import json
import time

import pytest

from orchestration.status import collect, render_table
from tests.helpers import TOKEN, TOKEN_ENV, StreamerThread, make_config, start_simulator, wait_for

pytestmark = pytest.mark.slow


def test_status_reports_a_stalled_instance(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    healthy = start_simulator("sim-ok.example", 31)
    doomed = start_simulator("sim-gone.example", 32)
    config = make_config(tmp_path, [(healthy.url, ["public:local"]), (doomed.url, ["public:local"])])
    ok_id, gone_id = (i.instance_id for i in config.instances)
    try:
        with StreamerThread(config, warehouse) as running:
            healthy.emit(40)
            doomed.emit(40)
            doomed.stop()  # the instance disappears: reconnects fail, nothing arrives any more
            time.sleep(config.extract.heartbeat_timeout_seconds + 1.0)
            wait_for(lambda: {s.instance_id: s.state for s in collect(config, warehouse).instances}
                     == {ok_id: "streaming", gone_id: "stalled"}, timeout=20, what="the stalled state")
            status = collect(config, warehouse)
            table = render_table(status)
            running.stop()
    finally:
        healthy.stop()
    assert f"{gone_id} public:local: stalled: nothing received for" in table
    by_id = {s.instance_id: s for s in status.instances}
    assert by_id[ok_id].events_last_hour > 0 and by_id[ok_id].load_lag_seconds is not None
    assert status.streamer_running
    document = json.loads(status.to_json())
    assert {i["instance_id"]: i["state"] for i in document["instances"]} == {ok_id: "streaming", gone_id: "stalled"}
    # once the streamer has stopped, every stream says so
    assert {s.state for s in collect(config, warehouse).instances} == {"stopped"}
