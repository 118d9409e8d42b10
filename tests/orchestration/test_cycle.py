"""``forkalytics run``: one whole cycle from buffered events to marts; running it twice changes nothing; the
dashboard marts, the data dictionary and the BI role over what it built."""

from __future__ import annotations

import json

import psycopg2
import pytest

from orchestration.bi_access import grant_bi
from orchestration.cycle import run_cycle
from orchestration.dbt_runner import run_dbt
from orchestration.status import collect, last_cycle
from tests.helpers import TOKEN, TOKEN_ENV, make_config, query, start_simulator
from tests.orchestration.ops_helpers import buffer_events, snapshot_marts

pytestmark = pytest.mark.slow

DASHBOARD_MARTS = ("dashboard_overview", "dashboard_sentiment_distribution", "dashboard_popular_posts",
                   "dashboard_daily_trends", "hourly_stats", "trending_hashtags", "daily_summaries", "hourly_topics")


def test_run_twice_gives_identical_marts(warehouse, tmp_path, monkeypatch):
    """Two cycles over the same buffered events: the second loads nothing and every mart stays identical.
    Along the way: the dashboard marts agree with the marts they summarise, dbt docs generate works, and
    the BI role (granted before dbt created anything) reads every rebuilt mart and nothing else."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("FORKALYTICS_BI_PASSWORD", "bi-secret")
    role = "bi_" + warehouse.dsn.rsplit("/", 1)[1][-6:]
    sim = start_simulator("sim-cycle.example", 61)
    config = make_config(tmp_path, [(sim.url, ["public"])])
    try:
        received = buffer_events(config, sim, 120)
    finally:
        sim.stop()
    assert query(warehouse, "select count(*) from raw.stream_events") == [(0,)]
    grant_bi(warehouse, role=role)  # before dbt creates the marts: default privileges cover them

    lines: list[str] = []
    first = run_cycle(config, warehouse, say=lines.append)
    assert first.success, lines
    assert [step.name for step in first.steps] == ["load", "dbt build", "enrich", "dbt build enrichment"]
    assert len(lines) == 4 and all(": ok: " in line for line in lines), lines
    assert first.steps[0].detail["rows"] == len(received)
    posts = {row[0] for row in query(warehouse, "select post_id from marts.posts")}
    assert posts == {e.status_id for e in received if e.event in ("update", "status.update")}
    scored = query(warehouse, "select count(*) from marts.post_sentiments where sentiment_status = 'scored'")
    assert scored[0][0] > 0
    instance_id = config.instances[0].instance_id
    posts_total, humans, bots, recent = query(
        warehouse, "select posts_total, human_accounts, bot_accounts, posts_recent from marts.dashboard_overview "
                   "where instance_id = %s", (instance_id,))[0]
    expected = query(warehouse, "select count(*) from marts.posts where instance_id = %s and deleted_at is null "
                                "and not is_reblog", (instance_id,))[0][0]
    assert posts_total == expected == recent > 0  # every simulated post is within 48 hours of the newest
    authors = query(warehouse, "select count(*) from marts.accounts where is_profile_observed")[0][0]
    assert humans + bots == authors

    distribution = dict(query(warehouse, "select sentiment_label, post_count "
                                         "from marts.dashboard_sentiment_distribution where time_window = 'all'"))
    scored = query(warehouse, "select count(*) from marts.post_sentiments s join marts.posts p using (instance_id, "
                              "post_id) where s.is_current_version and s.sentiment_status = 'scored' "
                              "and p.deleted_at is null and not p.is_reblog")[0][0]
    assert set(distribution) == {"positive", "neutral", "negative"} and sum(distribution.values()) == scored > 0

    popular = query(warehouse, "select popularity_rank, engagement_score, author_acct "
                               "from marts.dashboard_popular_posts order by popularity_rank")
    assert [rank for rank, _, _ in popular] == list(range(1, len(popular) + 1)) and 0 < len(popular) <= 50
    assert [score for _, score, _ in popular] == sorted((score for _, score, _ in popular), reverse=True)
    assert all(author for _, _, author in popular)
    daily_posts = query(warehouse, "select sum(posts) from marts.dashboard_daily_trends")[0][0]
    assert daily_posts == query(warehouse, "select sum(posts) from marts.hourly_stats")[0][0]

    # the data dictionary: dbt docs generate works against the warehouse, with the exposures declared
    docs = run_dbt(["docs", "generate"], warehouse.dsn, state_dir=config.state_dir, quiet=True)
    assert docs.success, docs.output_tail
    catalog = json.loads((config.state_dir / "dbt" / "target" / "catalog.json").read_text())
    assert "model.forkalytics.dashboard_overview" in catalog["nodes"]
    manifest = json.loads((config.state_dir / "dbt" / "target" / "manifest.json").read_text())
    assert {"exposure.forkalytics.dashboard_overview_page", "exposure.forkalytics.dashboard_summary_page"} <= \
        set(manifest["exposures"])
    before = snapshot_marts(warehouse.dsn)

    second = run_cycle(config, warehouse, say=lines.append)
    assert second.success, lines[4:]
    assert second.steps[0].detail["rows"] == 0
    assert snapshot_marts(warehouse.dsn) == before

    records = [json.loads(line) for line in (config.state_dir / "cycles.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["success"] for r in records)
    assert last_cycle(config.state_dir)["finished_at"] == records[-1]["finished_at"]
    status = collect(config, warehouse)
    assert status.last_successful_cycle_at == records[-1]["finished_at"]

    # dbt rebuilt the table marts (new tables replaced the old ones): the role still reads every one of them
    marts = [row[0] for row in query(warehouse, "select table_name from information_schema.tables "
                                                "where table_schema = 'marts'")]
    assert set(DASHBOARD_MARTS) <= set(marts)
    bi = psycopg2.connect(warehouse.dsn_for_role(role).replace(f"{role}@", f"{role}:bi-secret@"))
    bi.autocommit = True
    try:
        with bi.cursor() as cur:
            for table in marts:
                cur.execute(f'select count(*) from marts."{table}"')
            for statement in ("select count(*) from raw.stream_events", "select count(*) from raw.instances",
                              "select count(*) from enrichment.post_sentiments",
                              "select count(*) from staging.stg_mastodon__stream_events",
                              "select count(*) from intermediate.int_stream_events__deduped",
                              "insert into marts.dashboard_overview (instance_id) values ('x')",
                              "update marts.posts set content_text = ''", "delete from marts.posts",
                              "truncate marts.posts", "drop table marts.posts",
                              "create table marts.mine (x int)", "create schema sneaky"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        bi.close()
        with warehouse.connect() as conn, conn.cursor() as cur:
            cur.execute(f"drop owned by {role}; drop role {role}")


def test_failed_step_is_reported_and_exit_code_is_one(warehouse, tmp_path):
    config = make_config(tmp_path, [])
    with warehouse.connect() as conn, conn.cursor() as cur:
        # an event from an unknown source: the raw contract's data test fails the build
        cur.execute("insert into raw.stream_events (event_id, instance_id, instance_url, stream, source, event_type, "
                    "received_at, payload, payload_escaped, batch_key, _dlt_load_id) values ('e1', 'x.example', "
                    "'https://x.example', 'public', 'bogus', 'delete', now(), '\"1\"', false, 'b', '1.0')")
    lines: list[str] = []
    report = run_cycle(config, warehouse, say=lines.append, enrich=False)
    assert not report.success and report.exit_code == 1
    assert "dbt build" in report.failed_steps
    assert any(line.startswith("dbt build: FAILED") for line in lines), lines
    record = last_cycle(config.state_dir)
    assert record["success"] is False and "dbt build" in record["failed_steps"]
