"""The dashboard marts over simulated data, and the BI role against marts that dbt has (re)built: it reads
every mart and nothing else, and cannot write."""

from __future__ import annotations

import json

import psycopg2
import pytest

from orchestration.bi_access import grant_bi
from orchestration.cycle import run_cycle
from orchestration.dbt_runner import run_dbt
from tests.helpers import TOKEN, TOKEN_ENV, make_config, query, start_simulator
from tests.orchestration.ops_helpers import buffer_events

pytestmark = pytest.mark.slow

DASHBOARD_MARTS = ("dashboard_overview", "dashboard_sentiment_distribution", "dashboard_popular_posts",
                   "dashboard_daily_trends", "hourly_stats", "trending_hashtags", "daily_summaries", "hourly_topics")


def test_dashboard_marts_and_bi_role(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("FORKALYTICS_BI_PASSWORD", "bi-secret")
    role = "bi_" + warehouse.dsn.rsplit("/", 1)[1][-6:]
    sim = start_simulator("sim-dash.example", 91)
    config = make_config(tmp_path, [(sim.url, ["public"])])
    try:
        buffer_events(config, sim, 150)
    finally:
        sim.stop()
    grant_bi(warehouse, role=role)  # before dbt creates the marts: default privileges cover them
    lines: list[str] = []
    assert run_cycle(config, warehouse, say=lines.append).success, lines
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

    # dbt rebuilds the marts (new tables replace the old ones): the role keeps reading them
    assert run_cycle(config, warehouse, say=lines.append, enrich=False, full_refresh=True).success, lines
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
