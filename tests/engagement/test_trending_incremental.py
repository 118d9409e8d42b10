"""hashtag_hourly_stats is incremental: a later load that deletes and edits posts of hours already aggregated
must leave it (and trending_hashtags) exactly as a full rebuild would."""

from __future__ import annotations

import json

import pytest

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
    incremental = snapshot_marts(warehouse.dsn, only=ENGAGEMENT_TABLES)
    dbt(warehouse.dsn, state, "build", *select, "--full-refresh", vars=THIN_FAST)
    assert snapshot_marts(warehouse.dsn, only=ENGAGEMENT_TABLES) == incremental
    tiers = {tier for (tier,) in query(warehouse, "select distinct retention_tier from marts.post_metric_snapshots")}
    assert tiers == {"all", "hourly", "daily"}
