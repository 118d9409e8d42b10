"""kill -9 of the streaming process mid-batch, then a restart: nothing is lost, nothing stored twice."""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.helpers import (
    make_config,
    query,
    spooled_or_loaded,
    start_simulator,
    start_streamer_process,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow


def test_kill_minus_nine_loses_nothing(warehouse, tmp_path):
    rng = random.Random(7)
    sim = start_simulator("sim-crash.example", 11, events_per_second=40)
    try:
        config = make_config(tmp_path, [(sim.url, ["public:local"])], batch_max_seconds=1.0)
        config_path = write_config(tmp_path, config, warehouse.dsn)
        instance_id = config.instances[0].instance_id
        log = tmp_path / "streamer.log"
        for _ in range(3):
            process = start_streamer_process(config_path, warehouse.dsn, log)
            wait_for(lambda p=process: spooled_or_loaded(config.state_dir, warehouse) > 0 or p.poll() is not None,
                     timeout=30, what="the streamer to receive events")
            assert process.poll() is None, log.read_text()
            time.sleep(rng.uniform(0.3, 1.5))  # somewhere in the middle of a batch
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            time.sleep(rng.uniform(0.5, 1.5))  # the instance goes on publishing while nobody listens

        process = start_streamer_process(config_path, warehouse.dsn, log)
        time.sleep(2)
        sim.pause()
        truth = sim.ground_truth()
        alive = {sid for sid, s in truth.statuses.items() if s.local and not s.deleted and s.on_public_timeline}

        def captured() -> set[str]:
            rows = query(warehouse, "select distinct payload_status_id from raw.stream_events where instance_id = %s "
                                    "and event_type in ('update', 'status.update')", (instance_id,))
            return {sid for (sid,) in rows}

        wait_for(lambda: alive <= captured(), timeout=90, what="every post to be recovered")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        sim.stop()

    assert len(alive) > 50
    total, distinct = query(warehouse, "select count(*), count(distinct event_id) from raw.stream_events")[0]
    assert total == distinct, "an event was loaded twice"
    dupes = query(warehouse, """
        select payload_status_id, coalesce(payload->>'edited_at', ''), count(*) from raw.stream_events
        where event_type in ('update', 'status.update') group by 1, 2 having count(*) > 1""")
    assert dupes == [], "a status version was stored twice"
    # every event the stream delivered before a crash reached the warehouse, or was fetched back
    streamed = {e.status_id for e in truth.events if e.event == "update" and "public:local" in e.written_to}
    assert (streamed & alive) <= captured()
    assert list((config.state_dir / "spool").glob("*.ready")) == []
