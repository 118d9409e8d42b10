"""The planted spike: a week of steady activity on a simulated instance, then its ``spike`` scenario plants
``#forkaspike`` (many accounts on many servers) while ``#dailychatter`` keeps its steady, high volume. After
dbt, forkaspike must rank first under every trending method, per instance and fediverse-wide, and the steady
tag must not trend under the growth-based ones. Also the demo's report of the top tags per method."""

from __future__ import annotations

import psycopg2
import pytest

from orchestration.reports import trending_report
from tests.engagement.engagement_data import Clock, dbt, emit_paced, load_as_streamed, sim_config, start_sim, utc
from tests.helpers import TOKEN, TOKEN_ENV, query

PER_HOUR = 24  # events per simulated hour, before and during the spike (steady volume for #dailychatter)
BASELINE_HOURS = 7 * 24 + 3  # the Poisson baseline needs the same window on each of the 7 previous days
SPIKE_HOURS = 3
METHODS = ("spike", "growth", "mastodon", "poisson")


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def test_the_planted_spike_ranks_first_under_every_method(warehouse, tmp_path):
    clock = Clock(utc(2026, 11, 17, 2, 0))
    start = BASELINE_HOURS * PER_HOUR
    sim = start_sim(clock, 7, scenario="spike", spike_start_event=start + 1, spike_length_events=1000)
    try:
        events = emit_paced(sim, clock, start + SPIKE_HOURS * PER_HOUR - 2, 3600 / PER_HOUR)
        config = sim_config(tmp_path, [sim])
        load_as_streamed(warehouse.dsn, config, events, "stream:week")
    finally:
        sim.stop()
    instance_id = config.instances[0].instance_id
    dbt(warehouse.dsn, tmp_path / "dbt", "build", "--select", "+trending_hashtags", "--indirect-selection", "cautious")

    for scope in (instance_id, "fediverse"):
        rows = query(warehouse, "select hashtag_name, current_posts, recent_posts, spike_rank, growth_rank, "
                                "mastodon_rank, poisson_rank, growth_is_trending, spike_is_trending "
                                "from marts.trending_hashtags where is_latest and instance_id = %s", (scope,))
        by_tag = {row[0]: row for row in rows}
        spike, chatter = by_tag["forkaspike"], by_tag["dailychatter"]
        assert spike[3:7] == (1, 1, 1, 1), (scope, spike)
        # the steady tag is busier than the spike in posts and does not trend under the growth-based methods
        week = query(warehouse, "select avg(posts_using_tag) from marts.hashtag_hourly_stats "
                                "where instance_id = %s and hashtag_name = 'dailychatter'", (scope,))[0][0]
        assert week >= 3 and chatter[2] >= 10
        assert chatter[7:9] == (False, False) and chatter[3:5] == (None, None), (scope, chatter)

    # the quiet week before the spike: forkaspike ranked nowhere, a day before it started
    quiet = query(warehouse, "select spike_rank, growth_rank, mastodon_rank, poisson_rank from marts.trending_hashtags "
                             "where instance_id = %s and hashtag_name = 'forkaspike' "
                             "and evaluation_hour = (select max(evaluation_hour) - interval '24 hours' "
                             "from marts.trending_hashtags)", (instance_id,))
    assert quiet in ([], [(None, None, None, None)])

    conn = psycopg2.connect(warehouse.dsn)
    try:
        lines = trending_report(conn)
    finally:
        conn.close()
    for method in METHODS:
        prefix = f"{instance_id} {method}: "
        line = next(line for line in lines if line.startswith(prefix))
        assert line[len(prefix):].startswith("#forkaspike ("), line
    assert any(line.startswith("fediverse poisson:") for line in lines)
