"""``forkalytics demo``: two simulated Mastodon instances streamed into the embedded warehouse, then dbt.

Everything is real but the Mastodon servers: the simulators speak Mastodon's wire protocol on local ports,
the streamer, buffer, dlt loader, PostgreSQL, dbt and the offline enrichment providers are the ones
production uses. After streaming, the steps of ``REPORT_STEPS`` run in order (raw events
per instance, one ELT cycle as ``forkalytics run``, rows per mart, trending hashtags per method, sentiment
distribution and the day's summary); a step that adds output appends a function taking the ``DemoRun``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from orchestration.config import Config, InstanceConfig
from orchestration.cycle import CycleReport
from orchestration.dbt_runner import mart_row_counts
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

    demo = DemoRun(config=demo_config, warehouse=warehouse, dsn=dsn,
                   instance_ids=[i.instance_id for i in instances], say=say)
    for step in REPORT_STEPS:
        step(demo)
    return 0


# -- what the demo shows after streaming: one function per step, run in order ----------------------------

@dataclass
class DemoRun:
    """What the report steps share: the warehouse, the demo's instances, and what earlier steps produced."""

    config: Config
    warehouse: Warehouse
    dsn: str
    instance_ids: list[str]
    say: Callable[[str], None]
    cycle: CycleReport | None = None
    mart_counts: dict[str, int] = field(default_factory=dict)


def report_raw_events(demo: DemoRun) -> None:
    """Events per instance in raw.stream_events; fails when an instance delivered nothing."""
    conn = demo.warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""
                select instance_id, count(*), count(*) filter (where event_type = 'update'),
                       count(*) filter (where event_type = 'status.update'),
                       count(*) filter (where event_type = 'delete'), count(*) filter (where source = 'backfill')
                from raw.stream_events
                where instance_id = any(%s)
                group by instance_id order by instance_id
            """, (demo.instance_ids,))
            rows = cur.fetchall()
    finally:
        conn.close()
    demo.say("raw.stream_events now holds, for the demo instances:")
    for instance_id, total, updates, edits, deletes, backfilled in rows:
        demo.say(f"  {instance_id}: {total:,} events ({updates:,} updates, {edits:,} edits, {deletes:,} deletes, "
                 f"{backfilled:,} back-filled)")
    if len(rows) < len(demo.instance_ids):
        raise UserError("The demo loaded no events for at least one instance; see the messages above.")


def run_cycle_step(demo: DemoRun) -> None:
    """One ELT cycle, as ``forkalytics run`` does it: load what is buffered, ``dbt build`` (staging,
    intermediate, marts and their tests), enrichment with the offline providers, ``dbt build`` of the
    enrichment marts; one line per step."""
    from orchestration.cycle import run_cycle

    demo.say("running one ELT cycle (load, dbt build, enrichment, dbt build of the enrichment marts) ...")
    demo.cycle = run_cycle(demo.config, demo.warehouse, say=demo.say)
    if not demo.cycle.success:
        raise UserError(f"The cycle failed at: {', '.join(demo.cycle.failed_steps)}; see the lines above.")


def report_mart_counts(demo: DemoRun) -> None:
    """Row count of every mart; fails when the core marts stayed empty."""
    conn = demo.warehouse.connect()
    try:
        demo.mart_counts = mart_row_counts(conn)
    finally:
        conn.close()
    width = max((len(name) for name in demo.mart_counts), default=0)
    demo.say(f"marts ({len(demo.mart_counts)} tables, rows each):")
    for name, count in demo.mart_counts.items():
        demo.say(f"  marts.{name:<{width}}  {count:>9,}")
    empty = [name for name in POPULATED_MARTS if demo.mart_counts.get(name, 0) == 0]
    if empty:
        raise UserError(f"The demo left these marts empty: {', '.join(empty)}.")


def report_trending(demo: DemoRun) -> None:
    """The top trending hashtags per instance, fediverse-wide, and method (marts.trending_hashtags)."""
    from orchestration.reports import trending_report

    conn = demo.warehouse.connect()
    try:
        lines = trending_report(conn)
    finally:
        conn.close()
    demo.say("trending hashtags (latest hour, per scope and method):")
    for line in lines:
        demo.say(f"  {line}")


def report_enrichment(demo: DemoRun) -> None:
    """The sentiment distribution and the day's summary from the offline providers."""
    from enrichment.report import enrichment_report

    conn = demo.warehouse.connect()
    try:
        lines = enrichment_report(conn, summaries=demo.config.enrichment.summaries)
    finally:
        conn.close()
    for line in lines:
        demo.say(line)


# What the demo shows after streaming, in order; each step gets the DemoRun and may raise UserError.
REPORT_STEPS: list[Callable[[DemoRun], None]] = [
    report_raw_events,
    run_cycle_step,
    report_mart_counts,
    report_trending,
    report_enrichment,
]
# Marts any few seconds of the demo's traffic fill.
POPULATED_MARTS = ("instances", "accounts", "posts", "post_versions", "hashtags", "post_hashtags", "stream_events",
                   "fediverse_posts")
