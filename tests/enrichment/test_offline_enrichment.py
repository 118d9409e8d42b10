"""The offline providers on the simulator's data: sentiment, daily summaries and hourly topics, audited.

Every test runs against its own copy of a warehouse whose marts were built by real dbt from simulator events
and a few hand-written posts (see conftest.py and enrich_data.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg2
import pytest
from enrich_data import (
    AFTER_DATA,
    EDITED_ID,
    EDITED_LATER,
    EDITED_ORIGINAL,
    ENRICHMENT_SELECTION,
    GERMAN_ID,
    INSTANCE_ID,
    MARTS_READ,
    MIXED_PARAGRAPHS_ID,
    MIXED_PARAGRAPHS_TEXT,
    UNDETERMINED_ID,
    dbt,
    edit_event,
    load_events,
)
from enrich_fakes import SCRIPTED_ERROR, ScriptedSentiment
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from enrichment.hashing import input_hash
from enrichment.providers.base import ProviderError, SummaryOutcome
from enrichment.providers.vader import VaderSentiment
from enrichment.runner import run_enrichment
from enrichment.sentiment import SentimentTask
from enrichment.settings import EnrichmentSettings, SentimentSettings
from enrichment.summaries import SummaryTask

ELIGIBLE_VERSIONS = "select count(*) from marts.post_versions where not is_post_deleted"


def _sentiment(db, post_id: str, version: int = 1) -> dict:
    rows = db.query("select * from enrichment.post_sentiments where post_id = %s and status_version_seq = %s",
                    (post_id, version))
    assert len(rows) == 1, rows
    conn = psycopg2.connect(db.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select * from enrichment.post_sentiments limit 0")
            names = [c.name for c in cur.description]
    finally:
        conn.close()
    return dict(zip(names, rows[0], strict=True))


def _run_sentiment(db, provider, *, now, settings: SentimentSettings | None = None, force: bool = False):
    read, write = psycopg2.connect(db.dsn), psycopg2.connect(db.dsn)
    try:
        task = SentimentTask(settings or SentimentSettings(), provider)
        return task.run(read, write, now=now, force=force, say=lambda line: None)
    finally:
        read.close()
        write.close()


def test_every_version_is_scored_or_skipped_with_its_audit_columns(marts_db) -> None:
    """No backlog cap (more than the old 1,200 an hour, in small chunks), audit columns on every row,
    the exact text scored, and a recorded skip reason instead of a made-up neutral for other languages."""
    settings = EnrichmentSettings.from_mapping({"sentiment": {"chunk_size": 100}})
    messages: list[str] = []
    report = run_enrichment(marts_db.dsn, settings, say=messages.append, tasks=["sentiment"], now=AFTER_DATA)

    eligible = marts_db.scalar(ELIGIBLE_VERSIONS)
    assert eligible > 1200
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments") == eligible
    assert report.sentiment.candidates == eligible and report.failures == 0
    assert report.sentiment.scored + report.sentiment.skipped + report.sentiment.reused == eligible
    assert report.sentiment.sent == report.sentiment.scored
    assert marts_db.scalar("""
        select count(*) from marts.post_versions as v
        left join enrichment.post_sentiments as s using (instance_id, post_id)
        where not v.is_post_deleted and s.status_version_seq = v.version_seq""") == eligible

    model = VaderSentiment().model
    bad_audit = marts_db.scalar("""
        select count(*) from enrichment.post_sentiments
        where model <> %s or prompt_version <> 'vader-compound-v1' or provider <> 'offline'
           or input_hash !~ '^[0-9a-f]{64}$' or analyzed_at <> %s or next_retry_at is not null
           or error is not null or prompt_tokens <> 0 or completion_tokens <> 0""", (model, AFTER_DATA))
    assert bad_audit == 0
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments where status = 'scored' "
                           "and (sentiment_score is null or sentiment_label is null)") == 0
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments where status = 'scored' "
                           "and attempt_count = 1 and not reused") > 300

    mixed = _sentiment(marts_db, MIXED_PARAGRAPHS_ID)
    payload = {"text": MIXED_PARAGRAPHS_TEXT, "language": "en",
               "labels": {"positive_at_or_above": 0.05, "negative_at_or_below": -0.05}}
    assert mixed["input_hash"] == input_hash(payload, model=model, prompt_version="vader-compound-v1")
    expected = SentimentIntensityAnalyzer().polarity_scores(MIXED_PARAGRAPHS_TEXT)["compound"]
    assert mixed["sentiment_score"] == pytest.approx(expected)

    happy = _sentiment(marts_db, EDITED_ID)
    assert (happy["status"], happy["sentiment_label"]) == ("scored", "positive")

    german = _sentiment(marts_db, GERMAN_ID)
    assert (german["status"], german["skip_reason"], german["language"]) == ("skipped", "unsupported_language", "de")
    assert german["sentiment_score"] is None and german["sentiment_label"] is None
    undetermined = _sentiment(marts_db, UNDETERMINED_ID)
    assert (undetermined["status"], undetermined["skip_reason"]) == ("skipped", "undetermined_language")
    # simulator posts in Japanese, German, Spanish... are all skipped, none scored
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments where status = 'scored' "
                           "and language is not null and language not like 'en%%'") == 0
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments where skip_reason = "
                           "'unsupported_language'") > 100


def test_second_run_sends_nothing_and_an_edit_rescores_only_that_post(marts_db) -> None:
    provider = ScriptedSentiment()
    first = _run_sentiment(marts_db, provider, now=AFTER_DATA)
    assert first.sent > 300 and len(provider.seen) == first.sent

    provider.seen.clear()
    second = _run_sentiment(marts_db, provider, now=AFTER_DATA + timedelta(hours=1))
    assert provider.seen == [] and second.sent == 0 and second.candidates == 0
    before = _sentiment(marts_db, EDITED_ID)

    load_events(marts_db.dsn, marts_db.state_dir, "edit", [edit_event()])
    dbt(["run", *MARTS_READ], marts_db.dsn, marts_db.state_dir)
    later = AFTER_DATA + timedelta(hours=2)
    third = _run_sentiment(marts_db, provider, now=later)

    assert [(item.post_id, item.version_seq, item.text) for item in provider.seen] == [(EDITED_ID, 2, EDITED_LATER)]
    assert third.sent == 1 and third.scored == 1
    assert _sentiment(marts_db, EDITED_ID) == before  # version 1 keeps its result
    edited = _sentiment(marts_db, EDITED_ID, 2)
    assert (edited["sentiment_label"], edited["analyzed_at"]) == ("negative", later)
    assert edited["input_hash"] != before["input_hash"]

    # the dbt side: the edit analysis shows the post whose sentiment turned after the edit
    dbt(["build", *ENRICHMENT_SELECTION], marts_db.dsn, marts_db.state_dir)
    changes = marts_db.query("""
        select post_id, status_version_seq, previous_label, sentiment_label, is_label_changed, is_current_version
        from marts.post_sentiment_changes where is_label_changed""")
    assert (EDITED_ID, 2, "positive", "negative", True, True) in changes
    assert all(previous != label for _, _, previous, label, _, _ in changes)
    assert marts_db.scalar("select count(*) from marts.post_sentiment_changes where not is_label_changed") > 0
    assert marts_db.query("select sentiment_label, is_current_version from marts.post_sentiments "
                          "where post_id = %s order by status_version_seq", (EDITED_ID,)) == \
        [("positive", False), ("negative", True)]


def test_failures_are_recorded_and_retried_on_schedule_never_marked_done(marts_db) -> None:
    failing = {EDITED_ID, MIXED_PARAGRAPHS_ID}
    provider = ScriptedSentiment(fail=lambda item: item.post_id in failing)
    settings = SentimentSettings(retry_initial_minutes=5, retry_max_minutes=60, max_attempts=3)
    t0 = AFTER_DATA
    report = _run_sentiment(marts_db, provider, now=t0, settings=settings)
    assert report.failed == 2

    row = _sentiment(marts_db, EDITED_ID)
    assert (row["status"], row["error"], row["attempt_count"]) == ("failed", SCRIPTED_ERROR.replace("\x00", ""), 1)
    assert row["analyzed_at"] is None and row["sentiment_score"] is None
    assert row["next_retry_at"] == t0 + timedelta(minutes=5)

    provider.seen.clear()
    _run_sentiment(marts_db, provider, now=t0 + timedelta(minutes=4), settings=settings)
    assert provider.seen == []  # not due yet

    _run_sentiment(marts_db, provider, now=t0 + timedelta(minutes=6), settings=settings)
    assert sorted(item.post_id for item in provider.seen) == sorted(failing)
    row = _sentiment(marts_db, EDITED_ID)
    assert (row["status"], row["attempt_count"]) == ("failed", 2)
    assert row["next_retry_at"] == t0 + timedelta(minutes=6 + 10)  # back-off doubles

    _run_sentiment(marts_db, provider, now=t0 + timedelta(minutes=20), settings=settings)
    row = _sentiment(marts_db, EDITED_ID)
    assert (row["status"], row["attempt_count"], row["next_retry_at"]) == ("failed", 3, None)  # attempts used up

    provider.seen.clear()
    _run_sentiment(marts_db, provider, now=t0 + timedelta(days=3), settings=settings)
    assert provider.seen == []  # stays failed and visible, not done, not retried without force

    failing.clear()
    later = t0 + timedelta(days=3, minutes=1)
    _run_sentiment(marts_db, provider, now=later, settings=settings, force=True)
    row = _sentiment(marts_db, EDITED_ID)
    assert (row["status"], row["attempt_count"], row["error"], row["next_retry_at"]) == ("scored", 4, None, None)
    assert row["analyzed_at"] == later and row["first_attempt_at"] == t0


class FlakySummary:
    """A summary provider that fails until told otherwise."""

    name = "scripted"
    model = "scripted-summary"
    prompt_version = "scripted-summary-v1"

    def __init__(self) -> None:
        self.failing = True
        self.days: list[str] = []

    def summarise(self, day):
        self.days.append(day.day_label)
        if self.failing:
            raise ProviderError("the endpoint answered HTTP 503 (gave up after 5 attempt(s))")
        return SummaryOutcome(f"{day.stats['post_count']} posts.", [], [])


def test_a_failed_day_is_recorded_and_retried_on_the_next_cycle(marts_db) -> None:
    run_enrichment(marts_db.dsn, EnrichmentSettings(), say=lambda line: None, tasks=["sentiment"], now=AFTER_DATA)
    provider = FlakySummary()
    conn = psycopg2.connect(marts_db.dsn)
    try:
        task = SummaryTask(EnrichmentSettings().summaries, provider)
        first = task.run(conn, now=AFTER_DATA, force=False, say=lambda line: None)
        days = marts_db.scalar("select count(distinct (created_at at time zone 'UTC')::date) from marts.posts "
                               "where deleted_at is null and not is_reblog")
        assert first.failed == days and first.generated == 0
        assert marts_db.query("select distinct status, error, attempt_count from enrichment.daily_summaries") == \
            [("failed", "the endpoint answered HTTP 503 (gave up after 5 attempt(s))", 1)]
        provider.failing = False
        provider.days.clear()
        second = task.run(conn, now=AFTER_DATA + timedelta(hours=1), force=False, say=lambda line: None)
        assert second.generated == days and len(provider.days) == days
        assert marts_db.query("select distinct status, error, attempt_count from enrichment.daily_summaries") == \
            [("ok", None, 2)]
        provider.days.clear()
        task.run(conn, now=AFTER_DATA + timedelta(hours=2), force=False, say=lambda line: None)
        assert provider.days == []
    finally:
        conn.close()


def test_daily_summaries_per_instance_and_local_day_numbers_from_the_stats(marts_db) -> None:
    settings = EnrichmentSettings.from_mapping({"summaries": {"time_zone": "America/New_York"}})
    report = run_enrichment(marts_db.dsn, settings, say=lambda line: None, tasks=["sentiment", "summaries"],
                            now=AFTER_DATA)
    assert report.summaries.failed == 0 and report.summaries.generated >= 5
    rows = marts_db.query("""
        select summary_date, time_zone, window_start, window_end, input_stats_json, summary_text, input_hash,
               model, prompt_version, analyzed_at
        from enrichment.daily_summaries order by window_start""")
    assert len(rows) == report.summaries.generated
    for _day, zone, start, end, stats, text, digest, model, version, analyzed in rows:
        assert zone == "America/New_York"
        # local midnight: 05:00 UTC in November (EST)
        assert (start.astimezone().utctimetuple().tm_hour, (end - start)) == (5, timedelta(days=1))
        assert start.isoformat() == stats["window_start"].replace("Z", "+00:00")
        count, authors = marts_db.query("""
            select count(*), count(distinct account_id) from marts.posts
            where instance_id = %s and created_at >= %s and created_at < %s
              and deleted_at is null and not is_reblog""", (INSTANCE_ID, start, end))[0]
        assert (stats["post_count"], stats["unique_authors"]) == (count, authors)
        assert f"had {count} post" in text and f"from {authors} author" in text
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and model == "forkalytics-extractive"
        assert version == "extractive-summary-v1" and analyzed == AFTER_DATA
        assert {"top_hashtags", "languages", "trending_tags", "top_posts", "sentiment", "engagement"} <= set(stats)
        assert sum(stats["sentiment"][k] for k in ("scored", "skipped", "failed", "not_yet_analysed")) == count


def test_force_regenerates_a_window_and_day_limits_it(marts_db) -> None:
    settings = EnrichmentSettings()
    run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA)
    before = dict(marts_db.query("select summary_date, attempt_count from enrichment.daily_summaries"))
    latest = max(before)

    again = run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA + timedelta(hours=1),
                           tasks=["summaries"])
    assert again.summaries.generated == 0

    # the latest complete day before "now" is regenerated; nothing else
    now = latest + timedelta(days=1, hours=12)
    from datetime import UTC, datetime
    moment = datetime(now.year, now.month, now.day, 12, tzinfo=UTC)
    forced = run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=moment, tasks=["summaries"],
                            force=True)
    assert forced.summaries.generated == 1
    after = dict(marts_db.query("select summary_date, attempt_count from enrichment.daily_summaries"))
    assert after == {**before, latest: before[latest] + 1}

    # --day: that day's summary and every hour of it
    day = min(before)
    hours = marts_db.scalar("select count(*) from enrichment.hourly_topic_runs where hour_start >= %s "
                            "and hour_start < %s + interval '1 day'", (day, day))
    assert hours > 0
    by_day = run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA, force=True, day=day,
                            tasks=["summaries", "topics"])
    assert (by_day.summaries.generated, by_day.topics.hours) == (1, hours)
    assert marts_db.scalar("select attempt_count from enrichment.daily_summaries where summary_date = %s",
                           (day,)) == 2
    assert marts_db.scalar("select count(*) from enrichment.hourly_topic_runs where attempt_count = 2") == hours


def test_hourly_topics_counts_and_ids_are_those_of_existing_posts(marts_db) -> None:
    report = run_enrichment(marts_db.dsn, EnrichmentSettings(), say=lambda line: None, now=AFTER_DATA)
    assert report.topics.failed == 0 and report.topics.topics > 50
    assert marts_db.scalar("select count(*) from enrichment.hourly_topics") == report.topics.topics
    # every id is a post of that instance and hour; counts and samples derived from them
    assert marts_db.scalar("""
        select count(*) from enrichment.hourly_topics as t
        cross join lateral jsonb_array_elements_text(t.post_ids) as pid (post_id)
        left join marts.posts as p
            on p.instance_id = t.instance_id and p.post_id = pid.post_id
            and p.created_at >= t.hour_start and p.created_at < t.hour_start + interval '1 hour'
            and p.deleted_at is null and not p.is_reblog
        where p.post_id is null""") == 0
    assert marts_db.scalar("""
        select count(*) from enrichment.hourly_topics
        where post_count <> jsonb_array_length(post_ids) or post_count < 2
           or not (post_ids @> sample_post_ids) or jsonb_array_length(sample_post_ids) > 5
           or jsonb_array_length(sample_post_ids) < least(post_count, 5)""") == 0
    # the average sentiment is that of the scored current versions of the topic's posts
    mismatches = marts_db.query("""
        select t.topic, t.average_sentiment, avg(s.sentiment_score)
        from enrichment.hourly_topics as t
        cross join lateral jsonb_array_elements_text(t.post_ids) as pid (post_id)
        left join marts.post_versions as v
            on v.instance_id = t.instance_id and v.post_id = pid.post_id and v.is_current
        left join enrichment.post_sentiments as s
            on s.instance_id = v.instance_id and s.post_id = v.post_id
            and s.status_version_seq = v.version_seq and s.status = 'scored'
        group by t.instance_id, t.hour_start, t.topic_rank, t.topic, t.average_sentiment
        having abs(coalesce(t.average_sentiment, 9) - coalesce(avg(s.sentiment_score), 9)) > 0.00006""")
    assert mismatches == []
    assert marts_db.scalar("select count(*) from enrichment.hourly_topic_runs where status = 'ok' "
                           "and validation_notes <> '[]'::jsonb") == 0


def test_the_exact_input_decides_reuse(marts_db) -> None:
    """The same text under the same model and prompt is not sent twice; a new model means a new analysis."""
    provider = ScriptedSentiment()
    _run_sentiment(marts_db, provider, now=AFTER_DATA)
    texts = [item.text for item in provider.seen]
    assert len(texts) == len(set(texts))  # duplicates within the data were sent once
    reused = marts_db.scalar("select count(*) from enrichment.post_sentiments where reused")
    duplicates = marts_db.scalar("select count(*) - count(distinct input_hash) from enrichment.post_sentiments "
                                 "where status = 'scored'")
    assert reused == duplicates > 0

    other = ScriptedSentiment(model="scripted-2")
    report = _run_sentiment(marts_db, other, now=AFTER_DATA)
    assert report.sent == len(texts)
    assert marts_db.scalar("select count(distinct model) from enrichment.post_sentiments") == 2
    assert EDITED_ORIGINAL in texts


class FlakyTopics:
    """A topic provider that fails until told otherwise, then proposes one topic with a made-up id."""

    name = "scripted"
    model = "scripted-topics"
    prompt_version = "scripted-topics-v1"

    def __init__(self) -> None:
        self.failing = True
        self.hours: list = []

    def find_topics(self, hour, *, max_topics):
        from enrichment.providers.base import ProposedTopic, TopicsOutcome

        self.hours.append(hour.hour_start)
        if self.failing:
            raise ProviderError("the request timed out after 60 s (gave up after 5 attempt(s))")
        ids = tuple(post.post_id for post in hour.posts[:3]) + ("not-a-post",)
        return TopicsOutcome([ProposedTopic("everything", "Posts of the hour, 7777777 of them.", ids),
                              ProposedTopic("everything else", "More posts.", ids[:2])])


def test_a_failed_hour_is_retried_and_the_answer_is_checked_against_the_posts(marts_db) -> None:
    from enrichment.topics import TopicTask

    provider = FlakyTopics()
    task = TopicTask(EnrichmentSettings().topics, provider)
    conn = psycopg2.connect(marts_db.dsn)
    try:
        first = task.run(conn, now=AFTER_DATA, force=False, say=lambda line: None)
        assert first.failed == len(provider.hours) > 50 and first.hours == 0
        assert marts_db.query("select distinct status, attempt_count from enrichment.hourly_topic_runs") == \
            [("failed", 1)]
        assert marts_db.scalar("select count(*) from enrichment.hourly_topics") == 0
        provider.failing = False
        provider.hours.clear()
        second = task.run(conn, now=AFTER_DATA + timedelta(minutes=5), force=False, say=lambda line: None)
    finally:
        conn.close()
    assert second.hours == len(provider.hours) == first.failed and second.failed == 0
    runs = marts_db.query("select distinct status, attempt_count, validation_notes from enrichment.hourly_topic_runs "
                          "where input_post_count >= 3")
    assert len(runs) == 1, runs
    status, attempts, notes = runs[0]
    assert (status, attempts) == ("ok", 2)
    # the made-up id is dropped; the summary with an invented number is dropped; the count is the real one
    assert notes == ["topic 'everything': 1 unknown post id(s) dropped: not-a-post",
                     "topic 'everything': dropped, its summary has the number 7777777 that is not in the posts"]
    assert marts_db.query("select distinct topic, post_count from enrichment.hourly_topics "
                          "where hour_start in (select hour_start from enrichment.hourly_topic_runs "
                          "where input_post_count >= 3)") == [("everything else", 2)]


def test_the_summary_input_hash_covers_the_post_texts(marts_db) -> None:
    """An edit of a top post's text changes the summary's input_hash though its statistics stay the same."""
    from datetime import UTC, datetime

    from enrich_data import HAND_POSTS_AT, INJECTION_ID, status_event

    settings = EnrichmentSettings()
    day = HAND_POSTS_AT.date()
    run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA, tasks=["summaries"], day=day)
    stats, digest = marts_db.query("select input_stats_json, input_hash from enrichment.daily_summaries")[0]
    assert INJECTION_ID in [post["post_id"] for post in stats["top_posts"]]

    created = HAND_POSTS_AT + timedelta(minutes=2)
    edit = status_event(INJECTION_ID, "<p>A quiet and ordinary post.</p>", created=created, counts=(50, 50, 50),
                        edited=created + timedelta(minutes=5))
    load_events(marts_db.dsn, marts_db.state_dir, "edit", [edit])
    dbt(["run", *MARTS_READ], marts_db.dsn, marts_db.state_dir)
    now = datetime(2026, 11, 24, 13, tzinfo=UTC)
    run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=now, tasks=["summaries"], day=day, force=True)
    stats_after, digest_after = marts_db.query("select input_stats_json, input_hash from enrichment.daily_summaries")[0]
    assert stats_after == stats and digest_after != digest


def test_enrichment_report_prints_the_distribution_and_the_days_summary(marts_db) -> None:
    from enrich_data import HAND_POSTS_AT

    from enrichment.report import enrichment_report

    during_the_day = HAND_POSTS_AT + timedelta(hours=1)  # no day has ended yet as far as this run knows
    run_enrichment(marts_db.dsn, EnrichmentSettings(), say=lambda line: None, now=during_the_day,
                   tasks=["sentiment"])
    conn = psycopg2.connect(marts_db.dsn)
    try:
        provisional = enrichment_report(conn, now=during_the_day)
        run_enrichment(marts_db.dsn, EnrichmentSettings(), say=lambda line: None, now=AFTER_DATA,
                       tasks=["summaries"])
        stored = enrichment_report(conn, now=AFTER_DATA)
    finally:
        conn.close()
    positive, neutral, negative = (marts_db.scalar(
        "select count(*) from enrichment.post_sentiments as s join marts.post_versions as v "
        "on v.instance_id = s.instance_id and v.post_id = s.post_id and v.version_seq = s.status_version_seq "
        "where v.is_current and not v.is_post_deleted and s.sentiment_label = %s", (label,))
        for label in ("positive", "neutral", "negative"))
    assert provisional[0].startswith(f"{INSTANCE_ID} sentiment: {positive + neutral + negative} scored — "
                                     f"positive {positive} (")
    assert f"neutral {neutral} (" in provisional[0] and f"negative {negative} (" in provisional[0]
    assert "skipped (unsupported_language " in provisional[0]
    assert provisional[1].startswith(f"{INSTANCE_ID} summary of 2026-11-18 so far (provisional, not stored): On "
                                     "2026-11-18 (UTC)")
    latest = marts_db.scalar("select max(summary_date) from enrichment.daily_summaries")
    assert stored[1].startswith(f"{INSTANCE_ID} summary of {latest} (UTC, forkalytics-extractive): On {latest}")
