"""The raw contract: the tables extract/ writes and dbt reads (see docs/architecture.md).

The tables are created here, before the first load, so that dbt always finds its sources; dlt then appends
into them (it adds nothing: its schema hints match these columns). Indexes serve the loader's
exactly-once check (``batch_key``) and dbt's incremental reads (``instance_id, received_at``).
"""

from __future__ import annotations

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


RAW_DDL: list[str] = [
    _create("stream_events", STREAM_EVENT_COLUMNS),
    "create index if not exists stream_events_batch_key_idx on raw.stream_events (batch_key)",
    "create index if not exists stream_events_instance_received_idx on raw.stream_events (instance_id, received_at)",
    "create index if not exists stream_events_load_id_idx on raw.stream_events (_dlt_load_id)",
    _create("instances", INSTANCE_COLUMNS),
]
