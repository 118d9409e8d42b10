"""From a fresh warehouse: simulator events → dbt build → enrich → dbt build of what reads enrichment.

The warehouse bootstrap creates the enrichment tables, so the whole dbt project builds before any enrichment
ran; after the offline enrichment the enrichment marts hold every post version, a summary per instance and
day, and validated topics; ``enrichment_report`` prints the sentiment distribution and the summaries.
"""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg2
import pytest
from enrich_data import AFTER_DATA, SIM_START, dbt, load_events, simulator_events

from enrichment.report import enrichment_report
from enrichment.runner import run_enrichment
from enrichment.settings import EnrichmentSettings

INSTANCES = ("alpha.example", "beta.example")


def _query(dsn: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_fresh_warehouse_to_enrichment_marts(warehouse, tmp_path) -> None:
    dsn, state = warehouse.dsn, tmp_path / "state"
    assert _query(dsn, "select count(*) from information_schema.tables where table_schema = 'enrichment'") == [(4,)]
    for seed, domain in enumerate(INSTANCES, start=11):
        load_events(dsn, state, domain, simulator_events(250, domain=domain, seed=seed, step=timedelta(minutes=12)))

    build = dbt(["build"], dsn, state)  # the whole project, before any enrichment ran
    assert build.counts.get("error", 0) == 0
    assert _query(dsn, "select count(*) from marts.post_sentiments") == [(0,)]

    report = run_enrichment(dsn, EnrichmentSettings(), say=lambda line: None, now=AFTER_DATA)
    assert report.failures == 0 and report.summaries.generated >= 4
    dbt(["build", "-s", "source:enrichment+"], dsn, state)

    versions = _query(dsn, "select count(*) from marts.post_versions where not is_post_deleted")[0][0]
    assert _query(dsn, "select count(*) from marts.post_sentiments where not is_post_deleted") == [(versions,)]
    days = _query(dsn, """
        select instance_id, count(*), min(summary_date), bool_and(summary_status = 'ok')
        from marts.daily_summaries group by 1 order by 1""")
    assert [(d[0], d[1] >= 2, d[2], d[3]) for d in days] == [(i, True, SIM_START.date(), True) for i in INSTANCES]
    assert _query(dsn, "select count(distinct instance_id) from marts.hourly_topics") == [(2,)]

    # the documented columns are exactly the built ones
    manifest = json.loads((state / "dbt" / "target" / "manifest.json").read_text())
    checked = 0
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or "/enrichment/" not in node["original_file_path"]:
            continue
        built = [row[0] for row in _query(dsn, f"""
            select column_name from information_schema.columns
            where table_schema = '{node["schema"]}' and table_name = '{node["alias"]}' order by ordinal_position""")]
        assert built == list(node["columns"]), node["name"]
        checked += 1
    assert checked == 8

    conn = psycopg2.connect(dsn)
    try:
        lines = enrichment_report(conn, now=AFTER_DATA)
    finally:
        conn.close()
    assert [line.split(" ", 1)[0] for line in lines] == [INSTANCES[0]] * 2 + [INSTANCES[1]] * 2
    assert " sentiment: " in lines[0] and "positive" in lines[0] and "skipped (unsupported_language" in lines[0]
    assert lines[1].startswith(f"{INSTANCES[0]} summary of ") and " had " in lines[1]
