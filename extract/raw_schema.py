"""The raw contract: the tables extract/ writes and dbt reads (see docs/architecture.md).

The tables are created here, before the first load, so that dbt always finds its sources; dlt then appends
into them (it adds nothing: its schema hints match these columns). Indexes serve the loader's
exactly-once check (``batch_key``) and dbt's incremental reads (``instance_id, received_at``).
"""

from __future__ import annotations

from datetime import date

from psycopg2 import sql

from extract.consent import CONSENT_DDL, STATUS_INDEX_DDL

STREAM_EVENT_COLUMNS: dict[str, str] = {
    "event_id": "varchar not null",
    "instance_id": "varchar not null",
    "instance_url": "varchar not null",
    "stream": "varchar not null",
    "source": "varchar not null",
    "event_type": "varchar not null",
    "received_at": "timestamp with time zone not null",
    "payload": "jsonb",
    "payload_status_id": "varchar",
    "payload_error": "varchar",
    "payload_escaped": "boolean not null",
    "payload_raw_base64": "varchar",
    "batch_key": "varchar not null",
    "_dlt_load_id": "varchar not null",
}

INSTANCE_COLUMNS: dict[str, str] = {
    "instance_id": "varchar not null",
    "instance_url": "varchar not null",
    "api_version": "varchar not null",
    "software_version": "varchar",
    "title": "varchar",
    "streaming_url": "varchar",
    "streams": "jsonb",
    "timelines_access": "jsonb",
    "payload": "jsonb",
    "observed_at": "timestamp with time zone not null",
    "_dlt_load_id": "varchar not null",
}


def _create(table: str, columns: dict[str, str]) -> str:
    body = ",\n    ".join(f"{name} {kind}" for name, kind in columns.items())
    return f"create table if not exists raw.{table} (\n    {body}\n)"


_INDEXES = [
    "create index if not exists stream_events_batch_key_idx on raw.stream_events (batch_key)",
    "create index if not exists stream_events_instance_received_idx on raw.stream_events (instance_id, received_at)",
    "create index if not exists stream_events_load_id_idx on raw.stream_events (_dlt_load_id)",
    STATUS_INDEX_DDL,  # a delete redacts the stored payloads of its status at load time (extract.consent)
]

RAW_DDL: list[str] = [_create("stream_events", STREAM_EVENT_COLUMNS), *_INDEXES, _create("instances", INSTANCE_COLUMNS),
                      CONSENT_DDL]

# PostgreSQL native partitioning by month of received_at (the seed's suggestion for very large data sets).
# Rows of a month without a partition yet land in the default partition; ``ensure_month_partitions`` creates
# the month's partition before a load and moves any such rows into it.
PARTITIONED_RAW_DDL: list[str] = [
    _create("stream_events", STREAM_EVENT_COLUMNS) + " partition by range (received_at)",
    "create table if not exists raw.stream_events_default partition of raw.stream_events default",
    *_INDEXES,
    _create("instances", INSTANCE_COLUMNS),
    CONSENT_DDL,
]


def raw_ddl(partitioned: bool) -> list[str]:
    return PARTITIONED_RAW_DDL if partitioned else RAW_DDL


def is_partitioned(cur) -> bool:
    cur.execute("select relkind = 'p' from pg_class where oid = to_regclass('raw.stream_events')")
    row = cur.fetchone()
    return bool(row and row[0])


def month_partition_name(month: date) -> str:
    return f"stream_events_{month:%Y_%m}"


def ensure_month_partitions(cur, months: set[date]) -> list[str]:
    """Create the partitions of these months (first days) if missing; return the names created."""
    created = []
    for month in sorted(months):
        name = month_partition_name(month)
        cur.execute("select to_regclass(%s) is not null", (f"raw.{name}",))
        if cur.fetchone()[0]:
            continue
        cur.execute("select pg_advisory_xact_lock(hashtext('forkalytics.raw_partitions'))")
        cur.execute("select to_regclass(%s) is not null", (f"raw.{name}",))
        if cur.fetchone()[0]:
            continue
        start = month
        end = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        table = sql.Identifier("raw", name)
        cur.execute(sql.SQL("create table {} (like raw.stream_events including defaults including constraints)")
                    .format(table))
        cur.execute(sql.SQL("with moved as (delete from raw.stream_events_default where received_at >= %s "
                            "and received_at < %s returning *) insert into {} select * from moved").format(table),
                    (start, end))
        cur.execute(sql.SQL("alter table raw.stream_events attach partition {} for values from (%s) to (%s)")
                    .format(table), (start, end))
        created.append(name)
    return created
