"""Helpers of the operations tests: buffered events from a simulator, and mart contents for comparison."""

from __future__ import annotations

import psycopg2

from orchestration.config import Config
from tests.helpers import StreamerThread, wait_for

# processed_at (when dbt first processed an event) and refreshed_at (when dbt last wrote a row): a full
# refresh sets them anew by design.
AUDIT_COLUMNS = {"processed_at", "refreshed_at"}


def buffer_events(config: Config, sim, count: int) -> list:
    """Stream ``count`` simulated events into the durable buffer only (nothing loaded), as ``stream --no-load``;
    returns the events the configured streams received."""
    with StreamerThread(config, None) as running:
        events = sim.emit(count)
        streams = {w.stream for w in running.streamer.workers}
        expected = sum(1 for event in events if event.written_to & streams)
        wait_for(lambda: sum(w.stats.events for w in running.streamer.workers) >= expected, timeout=30,
                 what=f"{expected} events to arrive")
        running.stop()
    return [event for event in events if event.written_to & streams]


def snapshot_marts(dsn: str) -> dict[str, list[tuple]]:
    """Every mart table's rows (audit columns left out), sorted, for exact comparison of two builds."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables "
                        "where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1")
            tables = [row[0] for row in cur.fetchall()]
            result = {}
            for table in tables:
                cur.execute(f'select * from marts."{table}"')
                keep = [i for i, d in enumerate(cur.description) if d[0] not in AUDIT_COLUMNS]
                result[table] = sorted(tuple(repr(row[i]) for i in keep) for row in cur.fetchall())
            return result
    finally:
        conn.close()
