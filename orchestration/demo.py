"""``forkalytics demo``: two simulated Mastodon instances streamed into the embedded warehouse.

Everything is real but the Mastodon servers: the simulators speak Mastodon's wire protocol on local ports,
the streamer, buffer, dlt loader and PostgreSQL are the ones production uses.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import replace

from orchestration.config import Config, InstanceConfig
from orchestration.errors import UserError
from orchestration.warehouse import Warehouse

DEMO_TOKEN_ENV = "FORKALYTICS_DEMO_TOKEN"
DEMO_INSTANCES = (
    # (domain, preferred port, seed, scenario, streams)
    ("sim-one.example", 8401, 1, "default", ("public:local", "public:remote")),
    ("sim-two.example", 8402, 2, "spike", ("public",)),
)


def _port(preferred: int) -> int:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_demo(config: Config, *, seconds: float, say: Callable[[str], None]) -> int:
    from extract.simulator import SimulatedInstance, SimulatorConfig
    from orchestration.streamer import Streamer

    warehouse = Warehouse(config.warehouse)
    dsn = warehouse.ensure_running()
    say(f"warehouse: {dsn}")
    os.environ.setdefault(DEMO_TOKEN_ENV, "sim-token")
    simulators = []
    instances = []
    try:
        for domain, port, seed, scenario, streams in DEMO_INSTANCES:
            sim = SimulatedInstance(SimulatorConfig(
                domain=domain, port=_port(port), seed=seed, scenario=scenario, events_per_second=4.0,
                heartbeat_interval=5.0, access_token=os.environ[DEMO_TOKEN_ENV]))
            sim.start()
            simulators.append(sim)
            instances.append(InstanceConfig(url=sim.url, streams=streams, access_token_env=DEMO_TOKEN_ENV))
            say(f"simulated instance {domain} at {sim.url}")
        demo_config = replace(config, instances=tuple(instances),
                              extract=replace(config.extract, batch_max_seconds=2.0))
        say(f"streaming for {seconds:g} s ...")
        report = Streamer(demo_config, warehouse, say=say).run(duration=seconds)
    finally:
        for sim in simulators:
            sim.stop()
    for key, count in sorted(report.events.items()):
        say(f"  {key}: {count:,} events received")
    if report.failures:
        raise UserError("The demo's streams failed: " + " ".join(report.failures))

    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""
                select instance_id, count(*), count(*) filter (where event_type = 'update'),
                       count(*) filter (where event_type = 'status.update'),
                       count(*) filter (where event_type = 'delete'), count(*) filter (where source = 'backfill')
                from raw.stream_events
                where instance_id = any(%s)
                group by instance_id order by instance_id
            """, ([i.instance_id for i in instances],))
            rows = cur.fetchall()
    finally:
        conn.close()
    say("raw.stream_events now holds, for the demo instances:")
    for instance_id, total, updates, edits, deletes, backfilled in rows:
        say(f"  {instance_id}: {total:,} events ({updates:,} updates, {edits:,} edits, {deletes:,} deletes, "
            f"{backfilled:,} back-filled)")
    if len(rows) < len(instances):
        raise UserError("The demo loaded no events for at least one instance; see the messages above.")
    return 0
