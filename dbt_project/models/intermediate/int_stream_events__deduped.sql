{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.privacy_hook_deduped_events() }}",
            "create index if not exists int_stream_events__deduped_loads_idx on {{ this }} (loaded_at, dlt_load_id)",
            "{{ forkalytics.lookup_index('instance_url', ['instance_id', 'instance_url']) }}",
            "{{ forkalytics.lookup_index('received', ['instance_id', 'received_at']) }}",
        ],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['instance_id', 'status_id']},
            {'columns': ['last_loaded_at']},
        ],
    )
}}
{#-
  One row per event_id: the same event delivered twice (stream + back-fill, replayed load, re-import)
  is kept once, as its first delivery (earliest received_at, then load, stream, batch). The choice is a
  min over deliveries, so merging a new batch with the rows already kept gives exactly the full-refresh
  result, whatever order the deliveries are loaded in.

  Almost every event has one delivery, so only the events with several candidates (several new
  deliveries, or a new delivery of an event already kept) are ranked; the others are copied through.
  Ranking every row sorted each one with its ~2.3 KB payload (an external sort of the whole history).

  Incremental: the new deliveries are those loaded in the look-back window (incremental_since) by a dlt
  load that no kept row comes from, read through raw's index on the load id. A dlt load commits atomically, so a load with a row here was read
  whole by the run that kept it; a window that covers a bulk load (or a replay) therefore no longer
  re-reads everything in it. A load whose every event was already kept (a replay) has no row here and is
  read again while it is in the window: idempotent, as before. The index on (loaded_at, dlt_load_id) that
  finds the merged loads is created by a hook, not `indexes`: this table is never rebuilt (full_refresh:
  false), so warehouses built before it get it too.

  `refreshed_at` is when a row was last written (every row this run writes, re-ranked ones included): the
  models downstream read the rows refreshed since their own last run (macros/incremental.sql). Rows kept
  before the column existed have none, and were read by the models downstream already.
-#}
{%- set event_columns = [
    'event_id', 'instance_id', 'instance_url', 'stream', 'event_source', 'event_type',
    'received_at', 'dlt_load_id', 'loaded_at', 'batch_key', 'payload', 'payload_type',
    'payload_status_id', 'payload_error', 'payload_escaped', 'is_known_event_type', 'carries_status', 'carries_status_id',
    'status_id', 'parse_error', 'parse_warning', 'uri', 'url', 'created_at',
    'edited_at', 'content_html', 'spoiler_text', 'sensitive', 'visibility', 'language',
    'in_reply_to_id', 'in_reply_to_account_id', 'reblog_of_id', 'reblog_of_uri', 'replies_count', 'reblogs_count',
    'favourites_count', 'quotes_count', 'media_attachments', 'mentions', 'tags', 'poll',
    'application_name', 'account_id', 'account_username', 'account_acct', 'account_display_name', 'account_note_html',
    'account_url', 'account_uri', 'account_avatar_url', 'account_is_bot', 'account_is_group', 'account_is_locked',
    'account_is_discoverable', 'account_created_at', 'account_last_status_at', 'account_followers_count', 'account_following_count', 'account_statuses_count',
    'account_fields'
] -%}
{#- the deliveries this run merges (alias `events`): those of the loads not merged yet, in the window -#}
{%- set in_new_loads -%}
    events.dlt_load_id = any(array(select new_loads.dlt_load_id from new_loads))
    and events.loaded_at >= (select watermark.since from watermark)
{%- endset -%}
with

{% if is_incremental() %}
    watermark as (
        select {{ incremental_since('last_loaded_at') }} as since from {{ this }}
    ),

    -- the loads in the window that kept rows come from: one index probe per load (a loose index scan on
    -- (loaded_at, dlt_load_id)), not a read of every row of a bulk load
    merged_loads as (
        select loads.dlt_load_id
        from (
            {{ distinct_by_index(this, ['loaded_at', 'dlt_load_id'],
                "scanned.loaded_at >= (select watermark.since from watermark)") }}
        ) as loads
        where loads.dlt_load_id is not null
    ),

    -- the loads in the window not merged yet: the distinct load ids of raw from the window's start on, one
    -- probe each of raw's load-id index (dlt's load ids are epoch seconds, so they sort by load time; the
    -- start is rounded down), then the events of those loads through the same index: no scan of raw
    new_loads as (
        select loads.dlt_load_id
        from (
            {{ distinct_by_index(ref('stg_mastodon__stream_event_keys'), ['dlt_load_id'],
                "scanned.dlt_load_id >= cast(cast(floor(extract(epoch from (select watermark.since from watermark)))"
                ~ " as bigint) as text)") }}
        ) as loads
        where
            loads.dlt_load_id is not null
            and loads.dlt_load_id not in (select merged_loads.dlt_load_id from merged_loads)
    ),
{% endif %}

delivery_keys as (
    select events.event_id
    from {{ ref('stg_mastodon__stream_event_keys') }} as events
    {% if is_incremental() %}
        where {{ in_new_loads }}
    {% endif %}
),

-- events with more than one delivery to choose from
repeated_events as (
    select delivery_keys.event_id
    from delivery_keys
    group by delivery_keys.event_id
    having count(*) > 1
    {% if is_incremental() %}
        union
        select kept.event_id
        from {{ this }} as kept
        where kept.event_id in (select delivery_keys.event_id from delivery_keys)
    {% endif %}
),

-- the deliveries of the events delivered more than once, and the row kept of each: few, and materialised
-- on purpose (a CTE over the staging view always is): its semi join with repeated_events then reads nothing
-- when there are none, where the main query's planner preferred sorting every event for the ranking below
candidates as materialized (
    select
        {%- for column in event_columns %}
            events.{{ column }},
        {%- endfor %}
        events.received_at as last_received_at,
        events.loaded_at as last_loaded_at,
        {{ run_started_timestamptz() }} as processed_at
    from {{ ref('stg_mastodon__stream_events') }} as events
    where
        {% if is_incremental() %}
            {{ in_new_loads }}
            and
        {% endif %}
        exists (
            select 1
            from repeated_events
            where repeated_events.event_id = events.event_id
        )
    {% if is_incremental() %}
        union all
        select
            {%- for column in event_columns %}
                kept.{{ column }},
            {%- endfor %}
            kept.last_received_at,
            kept.last_loaded_at,
            kept.processed_at
        from {{ this }} as kept
        where kept.event_id in (select repeated_events.event_id from repeated_events)
    {% endif %}
)

-- The staging view is read here, in the main query, not in CTEs: a CTE over it is always materialised (its
-- fenced subqueries are volatile for the planner), which wrote every event to a temporary file and read it
-- back (2.5 GB for 1M events). Read in place, a full build extracts the payloads in parallel workers.
-- Events with one delivery are copied through; the others are ranked.
select
    {%- for column in event_columns %}
        events.{{ column }},
    {%- endfor %}
    events.received_at as last_received_at,
    events.loaded_at as last_loaded_at,
    {{ run_started_timestamptz() }} as processed_at,
    {{ run_started_timestamptz() }} as refreshed_at
from {{ ref('stg_mastodon__stream_events') }} as events
where
    {% if is_incremental() %}
        {{ in_new_loads }}
        and
    {% endif %}
    not exists (
        select 1
        from repeated_events
        where repeated_events.event_id = events.event_id
    )

union all

select
    {%- for column in event_columns %}
        ranked.{{ column }},
    {%- endfor %}
    ranked.max_received_at as last_received_at,
    ranked.max_loaded_at as last_loaded_at,
    ranked.first_processed_at as processed_at,
    {{ run_started_timestamptz() }} as refreshed_at
from (
    select
        candidates.*,
        row_number() over (
            partition by candidates.event_id
            order by candidates.received_at, candidates.loaded_at, candidates.stream, candidates.batch_key
        ) as delivery_rank,
        max(candidates.last_received_at) over (partition by candidates.event_id) as max_received_at,
        max(candidates.last_loaded_at) over (partition by candidates.event_id) as max_loaded_at,
        min(candidates.processed_at) over (partition by candidates.event_id) as first_processed_at
    from candidates
) as ranked
where ranked.delivery_rank = 1
