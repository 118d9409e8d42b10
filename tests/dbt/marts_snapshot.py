"""Helpers of the dbt tests: the core selection, and every mart's rows for comparing two builds."""

from __future__ import annotations

import psycopg2

# The top-level marts, everything they are built from (staging, intermediate, the models other parts add
# upstream of them) and the tests of those models, without the marts other parts of the project add in
# subfolders of marts/: `dbt build <CORE_SELECTION>`.
CORE_SELECTION = ["--select", "+path:dbt_project/models/marts/*.sql", "--indirect-selection", "cautious"]

# processed_at (when dbt first processed an event) and refreshed_at (when dbt last wrote a row): a full
# refresh sets them anew by design.
AUDIT_COLUMNS = {"processed_at", "refreshed_at"}


def snapshot_marts(dsn: str, *, only: set[str] | None = None) -> dict[str, list[tuple]]:
    """Every mart's rows (audit columns excluded), sorted; ``only`` limits it to those tables."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables "
                        "where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1")
            tables = [row[0] for row in cur.fetchall() if only is None or row[0] in only]
            result = {}
            for table in tables:
                cur.execute(f'select * from marts."{table}"')
                keep = [i for i, d in enumerate(cur.description) if d[0] not in AUDIT_COLUMNS]
                result[table] = sorted(tuple(repr(row[i]) for i in keep) for row in cur.fetchall())
            return result
    finally:
        conn.close()
