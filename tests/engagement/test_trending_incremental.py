"""hashtag_hourly_stats is incremental: a later load that deletes and edits posts of hours already aggregated
must leave it (and trending_hashtags) exactly as a full rebuild would."""

from __future__ import annotations

import json

import psycopg2
import pytest

from extract.events import RawEvent
from extract.raw_loader import RawLoader
from tests.dbt.marts_snapshot import snapshot_marts
from tests.engagement.engagement_data import Clock, dbt, emit_paced, load_as_streamed, sim_config, start_sim, utc
from tests.helpers import TOKEN, TOKEN_ENV, query

TABLES = {"hashtag_hourly_stats", "trending_hashtags", "hashtag_uses"}


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def test_incremental_hashtag_stats_equal_a_full_rebuild(warehouse, tmp_path):
    clock = Clock(utc(2026, 11, 20, 21, 30))  # the second load crosses midnight
    sim = start_sim(clock, 81)
    try:
        config = sim_config(tmp_path, [sim])
        first = emit_paced(sim, clock, 120, 60)
        second = emit_paced(sim, clock, 120, 60)
    finally:
        sim.stop()
    tagged_first = {str(json.loads(e.data)["id"]) for e in first
                    if e.event == "update" and json.loads(e.data)["tags"]}
    deleted_later = {e.status_id for e in second if e.event == "delete"} & tagged_first
    assert deleted_later  # the second load changes hours the first build aggregated

    state = tmp_path / "dbt"
    select = ("--select", "+trending_hashtags", "--indirect-selection", "cautious")
    load_as_streamed(warehouse.dsn, config, first, "stream:first")
    dbt(warehouse.dsn, state, "build", *select)
    counted = {sid for (sid,) in query(warehouse, "select post_id from marts.hashtag_uses")}
    assert deleted_later <= counted
    load_as_streamed(warehouse.dsn, config, second, "stream:second")
    dbt(warehouse.dsn, state, "build", *select)
    incremental = snapshot_marts(warehouse.dsn, only=TABLES)
    counted = {sid for (sid,) in query(warehouse, "select post_id from marts.hashtag_uses")}
    assert not deleted_later & counted  # deleted posts left the hours they were counted in
    dbt(warehouse.dsn, state, "build", *select, "--full-refresh")
    assert snapshot_marts(warehouse.dsn, only=TABLES) == incremental
    assert query(warehouse, "select count(distinct hour_ts) from marts.hashtag_hourly_stats")[0][0] >= 4


ENGAGEMENT_TABLES = {"post_metric_snapshots", "post_engagement_velocity", "posts_gaining_favourites", "trending_posts",
                     "trending_links", "hourly_stats", "hourly_domain_stats", "hashtag_uses"}
# thinning windows of minutes, so that the boundaries move across the rows between two builds
THIN_FAST = {"metric_snapshots_keep_all_days": 0.02, "metric_snapshots_keep_hourly_days": 0.1}


def test_incremental_engagement_marts_equal_a_full_rebuild(warehouse, tmp_path):
    clock = Clock(utc(2026, 11, 20, 22, 0))
    sim = start_sim(clock, 83)
    try:
        config = sim_config(tmp_path, [sim])
        loads = [emit_paced(sim, clock, 90, 60), emit_paced(sim, clock, 90, 60), emit_paced(sim, clock, 60, 45)]
    finally:
        sim.stop()
    state = tmp_path / "dbt"
    select = ("--select", *(f"+{name}" for name in sorted(ENGAGEMENT_TABLES)), "--indirect-selection", "cautious")
    for number, events in enumerate(loads):  # each build moves the reference time by an hour or two
        load_as_streamed(warehouse.dsn, config, events, f"stream:{number}")
        dbt(warehouse.dsn, state, "build", *select, vars=THIN_FAST)
        write_sentiments(warehouse, number)  # results written between two builds
    # then every post of the instance's first hour and of the hour before the newest is deleted, and later
    # every post of the newest hour
    hours = query(warehouse, "select date_trunc('hour', created_at), array_agg(post_id order by post_id) "
                             "from marts.posts where deleted_at is null group by 1 order by 1")
    assert len(hours) >= 4
    instance = config.instances[0]
    # and the author of a post of the second hour turns into a bot (a profile change seen on a new observation)
    status = next(json.loads(e.data) for events in loads for e in events
                  if e.event == "update" and str(json.loads(e.data)["id"]) in hours[1][1])
    status["account"]["bot"] = not status["account"].get("bot")
    for number, emptied in enumerate([[hours[0], hours[-2]], [hours[-1]]]):
        clock.advance(minutes=1)
        RawLoader(warehouse.dsn, config.state_dir).load_batch(f"stream:deletes:{number}", [
            RawEvent(instance.instance_id, instance.url, "public", "stream", "delete", clock.now, post_id.encode())
            for _, post_ids in emptied for post_id in post_ids] + ([
            RawEvent(instance.instance_id, instance.url, "public", "stream", "status.update", clock.now,
                     json.dumps(status).encode())] if number == 0 else []))
        dbt(warehouse.dsn, state, "build", *select, vars=THIN_FAST)
        series = dict(query(warehouse, "select hour_ts, posts + boosts_made from marts.hourly_stats"))
        if number == 0:  # the series lost its first hour; the emptied hour inside it is a quiet hour
            assert query(warehouse, "select is_bot from marts.accounts where instance_id = %s and account_id = %s",
                         (instance.instance_id, str(status["account"]["id"])))[0][0] == status["account"]["bot"]
            assert min(series) == hours[1][0] and series[hours[-2][0]] == 0 and max(series) == hours[-1][0]
            assert not query(warehouse, "select 1 from marts.hourly_domain_stats where hour_ts = %s", (hours[-2][0],))
        else:  # the series lost its newest hours
            assert max(series) == hours[-3][0]
    assert query(warehouse, "select count(*) from marts.hourly_stats where posts_with_sentiment > 0")[0][0] >= 1
    incremental = snapshot_marts(warehouse.dsn, only=ENGAGEMENT_TABLES)
    dbt(warehouse.dsn, state, "build", *select, "--full-refresh", vars=THIN_FAST)
    assert snapshot_marts(warehouse.dsn, only=ENGAGEMENT_TABLES) == incremental
    tiers = {tier for (tier,) in query(warehouse, "select distinct retention_tier from marts.post_metric_snapshots")}
    assert tiers == {"all", "hourly", "daily"}


def write_sentiments(warehouse, number: int) -> None:
    """Score a few posts already built (some of them again, with another score), as enrichment would."""
    with psycopg2.connect(warehouse.dsn) as conn, conn.cursor() as cur:
        cur.execute("""
            insert into enrichment.post_sentiments (instance_id, post_id, status_version_seq, model, prompt_version,
                provider, status, sentiment_score, input_hash, source_fingerprint, analyzed_at, first_attempt_at,
                last_attempt_at)
            select instance_id, post_id, 1, 'm', 'p', 'offline', 'scored', %s, post_id, post_id,
                '2020-01-01', '2020-01-01', '2020-01-01'  -- an enrichment clock set in the past
            from marts.posts
            where not is_reblog and deleted_at is null
            order by md5(post_id || %s) limit 15
            on conflict (instance_id, post_id, status_version_seq, model, prompt_version)
            do update set sentiment_score = excluded.sentiment_score, written_at = now()""",
                    (0.25 * number - 0.3, str(number % 2)))
    conn.close()
