"""``forkalytics import-legacy`` from databases built with both schemas of the earlier Forkalytics (DDL written
from the prior-system description and the seed's data model): every post, account, sentiment and summary
arrives in the marts, what cannot be migrated is reported, and importing twice adds nothing."""

from __future__ import annotations

import json

import psycopg2
import pytest

from extract.legacy import import_legacy
from orchestration.cli import main
from orchestration.cycle import run_cycle
from tests.helpers import database_prefix, make_config, query, unique_database_name

pytestmark = pytest.mark.slow

# The original single-instance schema: no instance_id, no versions, no audit columns, naive timestamps.
ORIGINAL_DDL = """
create table mastodon_accounts (
    id varchar(64) primary key, username varchar(255), acct varchar(255), display_name varchar(255), note text,
    url varchar(512), avatar varchar(512), bot boolean default false, followers_count integer,
    following_count integer, statuses_count integer, created_at timestamp
);
create table mastodon_posts (
    id varchar(64) primary key, account_id varchar(64), content text, content_text text, created_at timestamp,
    url varchar(512), visibility varchar(20), in_reply_to_id varchar(64), replies_count integer,
    reblogs_count integer, favourites_count integer, engagement_score float, hashtags json, mentions json,
    fetched_at timestamp
);
create table post_sentiments (
    id serial primary key, post_id varchar(64), sentiment_score float, sentiment_label varchar(20),
    positive_score float, negative_score float, neutral_score float, analyzed_at timestamp
);
create table daily_summaries (
    id serial primary key, date date unique, total_posts integer, total_engagement integer,
    unique_authors integer, avg_sentiment float, positive_count integer, negative_count integer,
    neutral_count integer, summary_text text, trending_topics json, notable_events json, top_posts json,
    created_at timestamp
);
create table hourly_stats (
    id serial primary key, hour timestamp unique, post_count integer, boosts_received integer,
    replies_received integer, total_engagement integer, avg_engagement float, avg_sentiment float
);
create table hourly_topics (
    id serial primary key, hour_start timestamp, topic varchar(255), summary text, sentiment float,
    post_count integer, post_ids json, created_at timestamp
);
"""

ORIGINAL_ROWS = """
insert into mastodon_accounts values
    ('101', 'alice', 'alice', 'Alice', '<p>hi</p>', 'https://old.example/@alice', null, false, 10, 5, 300,
     '2024-01-01 00:00:00'),
    ('102', 'bob', 'bob', 'Bob', null, 'https://old.example/@bob', null, true, 1, 1, 20, '2024-02-01 00:00:00'),
    ('103', 'carol', 'carol', 'Carol', null, 'https://old.example/@carol', null, false, 0, 0, 0, null);
insert into mastodon_posts values
    ('1001', '101', '<p>Hello <a href="https://old.example/@carol">@carol</a>, what a lovely day!</p>',
     'Hello @carol what a lovely day!', '2024-05-01 10:15:00', 'https://old.example/@alice/1001', 'public',
     null, 1, 2, 3, 15, '["sunny", "Weekend"]', '["carol"]', '2024-05-01 12:00:00'),
    ('1002', '102', '<p>This is terrible news.</p>', null, '2024-05-01 11:00:00', null, 'public', '1001', 0, 0, 1,
     2, '[]', '[]', null),
    ('1003', '101', '<p>Second day</p>', 'Second day', '2024-05-02 09:00:00', null, null, null, null, null, null,
     null, null, null, null),
    ('1004', '102', '<p>no date</p>', null, null, null, null, null, 0, 0, 0, 0, null, null, null);
insert into post_sentiments (post_id, sentiment_score, sentiment_label, analyzed_at) values
    ('1001', 0.8, 'positive', '2024-05-01 12:00:00'), ('1002', -0.6, 'negative', '2024-05-01 12:00:00'),
    ('1003', 0.0, 'neutral', '2024-05-02 10:00:00'), ('9999', 0.1, 'positive', '2024-05-02 10:00:00');
insert into daily_summaries (date, total_posts, total_engagement, unique_authors, avg_sentiment, positive_count,
                             negative_count, neutral_count, summary_text, trending_topics, notable_events,
                             created_at) values
    ('2024-05-01', 2, 17, 2, 0.1, 1, 1, 0, 'A sunny day with one piece of bad news.', '["sunny"]', '[]',
     '2024-05-02 01:00:00'),
    ('2024-05-02', 1, 0, 1, 0.0, 0, 0, 1, 'A quiet day.', '[]', '[]', '2024-05-03 01:00:00');
insert into hourly_stats (hour, post_count, boosts_received, replies_received, total_engagement, avg_engagement,
                          avg_sentiment) values
    ('2024-05-01 10:00:00', 1, 2, 1, 15, 15, 0.8), ('2024-05-01 11:00:00', 1, 0, 0, 2, 2, -0.6);
insert into hourly_topics (hour_start, topic, summary, sentiment, post_count, post_ids, created_at) values
    ('2024-05-01 10:00:00', 'Weather', 'People enjoy the sun.', 0.8, 1, '["1001"]', '2024-05-01 11:05:00'),
    ('2024-05-01 10:00:00', 'Weekend', 'Plans for the weekend.', 0.5, 1, '["1001"]', '2024-05-01 11:05:00');
"""

# The improved multi-instance schema (the seed's data model): composite keys, versions, snapshots, event log,
# soft deletes and audit columns.
IMPROVED_DDL = """
create table instances (
    id integer primary key, base_url varchar(255) unique not null, stream_type varchar(50),
    created_at timestamp, last_seen_at timestamp
);
create table mastodon_accounts (
    id varchar(64), instance_id integer not null, username varchar(255), acct varchar(255),
    display_name varchar(255), note text, url varchar(512), bot boolean, followers_count integer,
    following_count integer, statuses_count integer, created_at timestamptz, primary key (id, instance_id)
);
create table mastodon_posts (
    id varchar(64), instance_id integer not null, account_id varchar(64), uri varchar(512), content text,
    content_text text, language varchar(10), created_at timestamptz, edited_at timestamptz,
    replies_count integer, reblogs_count integer, favourites_count integer, engagement_score float,
    hashtags json, mentions json, deleted_at timestamptz, primary key (id, instance_id)
);
create table post_versions (
    id bigserial primary key, instance_id integer not null, post_id varchar(64) not null,
    version_seq integer not null, valid_from timestamp not null, content_html text, content_text text,
    edited_at timestamp
);
create table post_metric_snapshots (
    id bigserial primary key, instance_id integer not null, post_id varchar(64) not null,
    captured_at timestamp not null, replies_count integer, reblogs_count integer, favourites_count integer,
    engagement_score float
);
create table stream_events (
    id bigserial primary key, instance_id integer not null, received_at timestamp not null,
    event_type varchar(50) not null, payload json, payload_status_id varchar(64), processed_at timestamp,
    process_error text
);
create table post_sentiments (
    id serial primary key, post_id varchar(64), instance_id integer, sentiment_score float,
    sentiment_label varchar(20), model varchar(100), prompt_version varchar(50), input_hash varchar(64),
    analyzed_at timestamp, status_version_seq integer
);
create table daily_summaries (
    id serial primary key, instance_id integer, date date, total_posts integer, total_engagement integer,
    unique_authors integer, avg_sentiment float, positive_count integer, negative_count integer,
    neutral_count integer, summary_text text, trending_topics json, notable_events json,
    window_start timestamp, window_end timestamp, model varchar(100), prompt_version varchar(50),
    input_stats_json json, input_hash varchar(64), created_at timestamp
);
create table hourly_stats (
    id serial primary key, instance_id integer, hour_ts timestamp, post_count integer, total_engagement integer
);
create table hourly_topics (
    id serial primary key, instance_id integer, hour_start timestamp, topics json, created_at timestamp
);
"""

STREAMED_STATUS = {
    "id": "3005", "uri": "https://b.example/users/dora/statuses/3005", "url": "https://b.example/@dora/3005",
    "created_at": "2024-06-02T08:00:00.000Z", "edited_at": None, "content": "<p>streamed before the move</p>",
    "spoiler_text": "", "sensitive": False, "visibility": "public", "language": "en", "in_reply_to_id": None,
    "in_reply_to_account_id": None, "reblog": None, "replies_count": 0, "reblogs_count": 0,
    "favourites_count": 4, "media_attachments": [], "mentions": [], "tags": [], "emojis": [], "poll": None,
    "account": {"id": "301", "username": "dora", "acct": "dora", "display_name": "Dora", "bot": False,
                "created_at": "2023-01-01T00:00:00.000Z", "followers_count": 3, "following_count": 2,
                "statuses_count": 9},
}

IMPROVED_ROWS = f"""
insert into instances values (1, 'https://a.example', 'public:local', '2024-01-01', '2024-06-01'),
                             (2, 'https://b.example', 'public', '2024-01-01', '2024-06-01');
insert into mastodon_accounts values
    ('201', 1, 'erin', 'erin', 'Erin', null, 'https://a.example/@erin', false, 5, 5, 50, '2023-05-01 00:00+00'),
    ('301', 2, 'dora', 'dora', 'Dora', null, 'https://b.example/@dora', false, 3, 2, 9, '2023-01-01 00:00+00'),
    ('302', 2, 'frank', 'frank', 'Frank', null, 'https://b.example/@frank', false, 0, 0, 1, null);
insert into mastodon_posts values
    ('2001', 1, '201', 'https://a.example/users/erin/statuses/2001', '<p>Edited text</p>', 'Edited text', 'en',
     '2024-06-01 10:00+00', '2024-06-01 10:30+00', 0, 1, 2, 7, '["news"]', '[]', null),
    ('2002', 1, '201', null, '<p>Oops, delete me</p>', 'Oops, delete me', 'en', '2024-06-01 11:00+00', null,
     0, 0, 0, 0, '[]', '[]', '2024-06-01 11:20+00'),
    ('3001', 2, '302', null, '<p>Hallo Welt, wie schön!</p>', null, 'de', '2024-06-02 07:00+00', null,
     0, 0, 9, 18, '[]', '[]', null);
insert into post_versions (instance_id, post_id, version_seq, valid_from, content_html, content_text, edited_at)
values (1, '2001', 1, '2024-06-01 10:00', '<p>Original text</p>', 'Original text', null),
       (1, '2001', 2, '2024-06-01 10:30', '<p>Edited text</p>', 'Edited text', '2024-06-01 10:30');
insert into post_metric_snapshots (instance_id, post_id, captured_at, replies_count, reblogs_count,
                                   favourites_count, engagement_score)
values (2, '3001', '2024-06-02 07:10', 0, 0, 2, 4), (2, '3001', '2024-06-02 09:00', 0, 0, 11, 22);
insert into stream_events (instance_id, received_at, event_type, payload, payload_status_id) values
    (2, '2024-06-02 08:00:01', 'update', '{json.dumps(STREAMED_STATUS)}', '3005'),
    (2, '2024-06-02 08:00:02', 'update', null, null);
insert into post_sentiments (post_id, instance_id, sentiment_score, sentiment_label, model, prompt_version,
                             input_hash, analyzed_at, status_version_seq) values
    ('2001', 1, 0.1, 'positive', 'vader', 'v1', 'h-2001-1', '2024-06-01 10:05', 1),
    ('2001', 1, 0.3, 'positive', 'vader', 'v1', 'h-2001-2', '2024-06-01 10:35', 2),
    ('3001', 2, 0.7, 'positive', 'vader', 'v1', 'h-3001-1', '2024-06-02 07:05', 1);
insert into daily_summaries (instance_id, date, total_posts, total_engagement, unique_authors, avg_sentiment,
                             positive_count, negative_count, neutral_count, summary_text, trending_topics,
                             notable_events, window_start, window_end, model, prompt_version, input_hash,
                             created_at) values
    (1, '2024-06-01', 2, 7, 1, 0.3, 1, 0, 0, 'Erin edited a post.', '["news"]', '[]', '2024-06-01 00:00',
     '2024-06-02 00:00', 'gpt-4o-mini', 'summary-v2', 'sum-a-0601', '2024-06-02 01:00'),
    (2, '2024-06-02', 2, 22, 2, 0.7, 1, 0, 0, 'Greetings from b.', '[]', '[]', '2024-06-02 00:00',
     '2024-06-03 00:00', 'gpt-4o-mini', 'summary-v2', 'sum-b-0602', '2024-06-03 01:00');
insert into hourly_stats (instance_id, hour_ts, post_count, total_engagement) values (1, '2024-06-01 10:00', 1, 7);
insert into hourly_topics (instance_id, hour_start, topics, created_at) values
    (2, '2024-06-02 07:00', '[{{"topic": "Greetings", "summary": "People say hello.", "sentiment": 0.7,
      "post_ids": ["3001"], "post_count": 1}}]', '2024-06-02 08:05');
"""


@pytest.fixture
def legacy_db(pg_server, request):
    """A fresh database on the test server, filled by the test; dropped afterwards."""
    created = []
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True

    def make(ddl: str, rows: str) -> str:
        name = unique_database_name(database_prefix("legacy", request.node.name))
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}"')
        created.append(name)
        dsn = pg_server.rsplit("/", 1)[0] + f"/{name}"
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(ddl)
            cur.execute(rows)
        conn.close()
        return dsn

    yield make
    with admin.cursor() as cur:
        for name in created:
            cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


def _counts(warehouse) -> tuple:
    return tuple(query(warehouse, f"select count(*) from {table}")[0][0] for table in (
        "raw.stream_events", "raw.legacy_rows", "enrichment.post_sentiments", "enrichment.daily_summaries",
        "enrichment.hourly_topics", "enrichment.hourly_topic_runs"))


def test_import_both_legacy_schemas_into_the_marts(warehouse, legacy_db, tmp_path, monkeypatch, capsys):
    original = legacy_db(ORIGINAL_DDL, ORIGINAL_ROWS)
    improved = legacy_db(IMPROVED_DDL, IMPROVED_ROWS)
    config_path = tmp_path / "forkalytics.yml"
    config_path.write_text(json.dumps({"state_dir": str(tmp_path / "state")}))
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", warehouse.dsn)

    # the single-instance schema needs to be told its instance, in one sentence
    assert main(["--config", str(config_path), "import-legacy", "--dsn", original]) == 2
    assert "--instance URL" in capsys.readouterr().err

    assert main(["--config", str(config_path), "import-legacy", "--dsn", original,
                 "--instance", "https://old.example"]) == 0
    output = capsys.readouterr().out
    assert "original (single-instance) schema" in output
    assert "mastodon_posts: 4 read, 3 migrated" in output and "1 without id, account_id or created_at" in output
    assert "post_sentiments: 4 read, 3 migrated" in output and "1 of a post not migrated" in output
    assert "kept in raw.legacy_rows" in output

    config = make_config(tmp_path, [])
    lines: list[str] = []
    report = import_legacy(improved, warehouse.dsn, config.state_dir, say=lines.append)
    assert report.schema.startswith("improved")
    assert report.tables["stream_events"].not_migrated, lines
    after_first = _counts(warehouse)

    # importing twice adds nothing
    again = import_legacy(improved, warehouse.dsn, config.state_dir, say=lines.append)
    import_legacy(original, warehouse.dsn, config.state_dir, say=lines.append, default_instance="https://old.example")
    assert _counts(warehouse) == after_first
    assert again.events_loaded == 0 and again.tables["mastodon_posts"].already_present > 0
    assert query(warehouse, "select count(*) from raw.stream_events where source <> 'legacy'") == [(0,)]

    cycle = run_cycle(config, warehouse, say=lines.append, enrich=False)
    assert cycle.success, lines

    posts = {(i, p): (text, deleted) for i, p, text, deleted in query(
        warehouse, "select instance_id, post_id, content_text, deleted_at is not null from marts.posts")}
    assert set(posts) == {("old.example", "1001"), ("old.example", "1002"), ("old.example", "1003"),
                          ("a.example", "2001"), ("a.example", "2002"), ("b.example", "3001"),
                          ("b.example", "3005")}
    assert posts[("a.example", "2002")][1] is True  # soft-deleted, kept
    assert posts[("a.example", "2001")][0] == "Edited text"
    versions = query(warehouse, "select version_seq, content_text from marts.post_versions "
                                "where instance_id = 'a.example' and post_id = '2001' order by version_seq")
    assert versions == [(1, "Original text"), (2, "Edited text")]
    # the newest metric snapshot is the post's current count
    assert query(warehouse, "select favourites_count from marts.posts where post_id = '3001'") == [(11,)]

    accounts = {(i, a): observed for i, a, observed in query(
        warehouse, "select instance_id, account_id, is_profile_observed from marts.accounts")}
    assert {("old.example", "101"), ("old.example", "102"), ("a.example", "201"), ("b.example", "301"),
            ("b.example", "302")} <= {key for key, observed in accounts.items() if observed}
    assert ("old.example", "103") in accounts  # carol: only ever mentioned
    bots = query(warehouse, "select is_bot from marts.accounts "
                            "where instance_id = 'old.example' and account_id = '102'")
    assert bots == [(True,)]

    sentiments = {(i, p, s): (score, provider) for i, p, s, score, provider in query(
        warehouse, "select instance_id, post_id, status_version_seq, sentiment_score, provider "
                   "from marts.post_sentiments")}
    assert sentiments == {
        ("old.example", "1001", 1): (0.8, "legacy"), ("old.example", "1002", 1): (-0.6, "legacy"),
        ("old.example", "1003", 1): (0.0, "legacy"), ("a.example", "2001", 1): (0.1, "legacy"),
        ("a.example", "2001", 2): (0.3, "legacy"), ("b.example", "3001", 1): (None, "legacy")}
    # English-only VADER on German text is not trusted as a score: skipped, so enrichment scores it afresh
    german = query(warehouse, "select sentiment_status, skip_reason from marts.post_sentiments where post_id = '3001'")
    assert german[0][0] == "skipped" and "0.7" in german[0][1]

    summaries = {(i, str(d)): (text, count) for i, d, text, count in query(
        warehouse, "select instance_id, summary_date, summary_text, post_count from marts.daily_summaries")}
    assert summaries == {("old.example", "2024-05-01"): ("A sunny day with one piece of bad news.", 2),
                         ("old.example", "2024-05-02"): ("A quiet day.", 1),
                         ("a.example", "2024-06-01"): ("Erin edited a post.", 2),
                         ("b.example", "2024-06-02"): ("Greetings from b.", 2)}
    topics = query(warehouse, "select instance_id, topic from marts.hourly_topics order by 1, 2")
    assert topics == [("b.example", "Greetings"), ("old.example", "Weather"), ("old.example", "Weekend")]
    hashtags = {row[0] for row in query(warehouse, "select hashtags::text from marts.posts where post_id = '1001'")}
    assert "sunny" in next(iter(hashtags)) and "weekend" in next(iter(hashtags))
