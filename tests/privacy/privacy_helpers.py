"""Helpers of the privacy tests: plant markers in simulated posts and profiles, and find them in the warehouse."""

from __future__ import annotations

import re

import psycopg2

# Every simulated post carries "zqx<status id>q" as its last paragraph; opted-out profiles get a marked name.
POST_SIGNATURE = "zqx{id}q"
MARKER = re.compile(r"zqx[0-9]+q|Zqxname[a-z_]+")
SCHEMAS = ("raw", "intermediate", "marts", "enrichment")

NOBOT_HTML = ('<p>Photos and bikes. <a href="https://sim.example/tags/nobot" class="mention hashtag" rel="tag">'
              '#<span>nobot</span></a></p>')

# signal -> (changes to the simulated account, the reason forkalytics records)
SIGNALS: dict[str, tuple[dict, str]] = {
    "indexable": ({"indexable": False}, "indexable: false"),
    "noindex": ({"noindex": True}, "noindex: true"),
    "discoverable": ({"discoverable": False}, "discoverable: false"),
    "note_nobot": ({"note": NOBOT_HTML}, "#nobot in note"),
    "note_noindex": ({"note": "<p>Please, #NoIndex. Thanks!</p>"}, "#noindex in note"),
    "field_nosearch": ({"fields": [{"name": "Search", "value": "#nosearch", "verified_at": None}]},
                       "#nosearch in profile fields"),
}


def post_marker(status_id: str) -> str:
    return POST_SIGNATURE.replace("{id}", str(status_id))


def find_markers(dsn: str, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, set[str]]:
    """Every marker found in any text or JSON column of any table of ``schemas`` -> the tables holding it."""
    found: dict[str, set[str]] = {}
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                select c.table_schema, c.table_name, c.column_name
                from information_schema.columns as c
                join information_schema.tables as t
                  on t.table_schema = c.table_schema and t.table_name = c.table_name
                where c.table_schema = any(%s) and t.table_type = 'BASE TABLE'
                  and c.data_type in ('text', 'character varying', 'json', 'jsonb', 'ARRAY')
                order by 1, 2, 3
            """, (list(schemas),))
            columns = cur.fetchall()
            assert any(table == "stream_events" for _, table, _ in columns)
            for schema, table, column in columns:
                cur.execute(f'select "{column}"::text from "{schema}"."{table}" '
                            f'where "{column}"::text ilike %s', ("%zqx%",))
                for (value,) in cur.fetchall():
                    for marker in MARKER.findall(value):
                        found.setdefault(marker, set()).add(f"{schema}.{table}.{column}")
    finally:
        conn.close()
    return found
