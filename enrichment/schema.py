"""The tables of the ``enrichment`` schema (created idempotently, before every run).

dbt declares these tables as sources (``dbt_project/models/staging/enrichment``). Every row carries the audit
columns of the seed (``model``, ``prompt_version``, ``input_hash``, ``analyzed_at``) plus what makes failures
visible and retryable (``status``, ``error``, ``attempt_count``, ``next_retry_at``) and what a request cost
(token counts of the request that produced it; offline rows have zero tokens).

* ``post_sentiments``: one row per post version and (model, prompt version). ``status`` is ``scored``,
  ``skipped`` (``skip_reason`` says why, e.g. a language the model does not handle) or ``failed``.
  ``source_fingerprint`` is a hash of the version's text as last read from marts, so unchanged versions are
  not read again; ``input_hash`` is the hash of exactly what the provider was given; ``reused`` marks a result
  copied from an identical input analysed before (same text, model and prompt version), which is not sent again.
  ``written_at`` is the database time of the last insert or update of the result (the other timestamps follow
  the enrichment run's ``now``, which may be a past moment, and a legacy import keeps the old ones): dbt models
  read the results written since their last run through it (``hourly_stats``).
* ``daily_summaries``: one row per instance, day window and (model, prompt version); ``status`` is ``ok`` or
  ``failed``.
* ``hourly_topic_runs``: one row per instance, hour and (model, prompt version): the hour's audit and retry
  state (``ok`` or ``failed``) and ``validation_notes`` (what was dropped from a provider's answer: unknown
  post ids, topics without posts); ``hourly_topics``: the topics of the hours whose run is ``ok``, one row
  each.
"""

from __future__ import annotations

import psycopg2.extensions

SCHEMA = "enrichment"

DDL: list[str] = [
    f"create schema if not exists {SCHEMA}",
    f"""
    create table if not exists {SCHEMA}.post_sentiments (
        instance_id text not null,
        post_id text not null,
        status_version_seq integer not null,
        model text not null,
        prompt_version text not null,
        provider text not null,
        status text not null check (status in ('scored', 'skipped', 'failed')),
        sentiment_score double precision check (sentiment_score between -1 and 1),
        sentiment_label text check (sentiment_label in ('positive', 'negative', 'neutral')),
        language text,
        skip_reason text,
        error text,
        input_hash text not null,
        source_fingerprint text not null,
        analyzed_at timestamptz,
        first_attempt_at timestamptz not null,
        last_attempt_at timestamptz not null,
        attempt_count integer not null default 0,
        next_retry_at timestamptz,
        reused boolean not null default false,
        request_id text,
        request_post_count integer,
        prompt_tokens integer not null default 0,
        completion_tokens integer not null default 0,
        written_at timestamptz not null default now(),
        primary key (instance_id, post_id, status_version_seq, model, prompt_version)
    )""",
    # warehouses created before the column: their rows count as written now (read once more by dbt)
    f"alter table {SCHEMA}.post_sentiments add column if not exists written_at timestamptz not null default now()",
    f"create index if not exists post_sentiments_written_idx on {SCHEMA}.post_sentiments (written_at)",
    f"create index if not exists post_sentiments_input_hash_idx on {SCHEMA}.post_sentiments (input_hash)",
    f"create index if not exists post_sentiments_retry_idx on {SCHEMA}.post_sentiments (next_retry_at) "
    "where status = 'failed'",
    f"create index if not exists post_sentiments_analyzed_idx on {SCHEMA}.post_sentiments (analyzed_at)",
    f"""
    create table if not exists {SCHEMA}.daily_summaries (
        instance_id text not null,
        summary_date date not null,
        time_zone text not null,
        window_start timestamptz not null,
        window_end timestamptz not null,
        model text not null,
        prompt_version text not null,
        provider text not null,
        status text not null check (status in ('ok', 'failed')),
        input_stats_json jsonb not null,
        input_hash text not null,
        summary_text text,
        trending_topics jsonb,
        notable_events jsonb,
        error text,
        analyzed_at timestamptz,
        last_attempt_at timestamptz not null,
        attempt_count integer not null default 0,
        prompt_tokens integer not null default 0,
        completion_tokens integer not null default 0,
        primary key (instance_id, window_start, model, prompt_version)
    )""",
    f"""
    create table if not exists {SCHEMA}.hourly_topic_runs (
        instance_id text not null,
        hour_start timestamptz not null,
        hour_end timestamptz not null,
        model text not null,
        prompt_version text not null,
        provider text not null,
        status text not null check (status in ('ok', 'failed')),
        input_post_count integer not null,
        topic_count integer not null default 0,
        validation_notes jsonb not null default '[]'::jsonb,
        input_hash text not null,
        error text,
        analyzed_at timestamptz,
        last_attempt_at timestamptz not null,
        attempt_count integer not null default 0,
        prompt_tokens integer not null default 0,
        completion_tokens integer not null default 0,
        primary key (instance_id, hour_start, model, prompt_version)
    )""",
    f"""
    create table if not exists {SCHEMA}.hourly_topics (
        instance_id text not null,
        hour_start timestamptz not null,
        model text not null,
        prompt_version text not null,
        topic_rank integer not null,
        topic text not null,
        summary text not null,
        post_count integer not null,
        average_sentiment double precision,
        sample_post_ids jsonb not null,
        post_ids jsonb not null,
        input_hash text not null,
        analyzed_at timestamptz not null,
        primary key (instance_id, hour_start, model, prompt_version, topic_rank)
    )""",
]


def ensure_schema(conn: psycopg2.extensions.connection) -> None:
    """Create the schema and its tables when missing (safe to run concurrently and repeatedly)."""
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('forkalytics.enrichment.schema'))")
        for statement in DDL:
            cur.execute(statement)
