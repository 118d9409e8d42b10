{{
    config(
        materialized='incremental',
        unique_key='instance_id',
        incremental_strategy='delete+insert',
        post_hook=["{{ forkalytics.refreshed_at_index() }}"],
        on_schema_change='append_new_columns',
    )
}}
{#-
  The instance dimension: one row per monitored instance, from its start-up observations (software and
  API version, configured streams, live-feed access) and the events it delivered. An instance known only
  from events (no start-up row yet) is listed with null descriptive fields.

  Incremental: every instance is rewritten each run (a handful of rows), but without reading the event
  history: event_count is the count this mart holds plus the events first processed since its last run
  (int_stream_events__deduped.processed_at; an event is processed once and never removed, so none is
  counted twice), the first and last event times and the base URL are index probes per instance. A
  warehouse whose mart has no refreshed_at yet (built as a table before) counts every event once.
-#}
{%- set watermark = last_refreshed_at() -%}
{%- set from_kept = is_incremental() and '-infinity' not in watermark -%}
with

observations_ranked as (
    select
        instances.*,
        row_number() over (
            partition by instances.instance_id order by instances.observed_at desc, instances.dlt_load_id desc
        ) as recency_rank,
        min(instances.observed_at) over (partition by instances.instance_id) as first_observed_at,
        max(instances.observed_at) over (partition by instances.instance_id) as last_observed_at
    from {{ ref('stg_mastodon__instances') }} as instances
),

latest as (
    select * from observations_ranked
    where recency_rank = 1
),

stream_names as (
    select
        latest.instance_id,
        {{ string_agg_ordered(json_scalar_text('stream.value'), ',', json_scalar_text('stream.value')) }}
            as stream_types
    from latest
    {{ json_array_rows('latest.streams', 'stream') }}
    group by latest.instance_id
),

{% if from_kept %}
    new_events as (
        select
            events.instance_id,
            count(*) as event_count
        from {{ ref('int_stream_events__deduped') }} as events
        where
            events.refreshed_at > {{ watermark }}
            and events.processed_at > {{ watermark }}
        group by events.instance_id
    ),

    kept as (
        select
            instance_id,
            event_count
        from {{ this }}
        where event_count > 0
    ),

    counted as (
        select
            coalesce(kept.instance_id, new_events.instance_id) as instance_id,
            coalesce(kept.event_count, 0) + coalesce(new_events.event_count, 0) as event_count
        from kept
        full outer join new_events on kept.instance_id = new_events.instance_id
    ),

    -- per instance, by the (instance_id, instance_url) and (instance_id, received_at) indexes
    event_activity as (
        select
            counted.instance_id,
            (
                select min(events.instance_url)
                from {{ ref('int_stream_events__deduped') }} as events
                where events.instance_id = counted.instance_id
            ) as instance_url,
            (
                select min(events.received_at)
                from {{ ref('int_stream_events__deduped') }} as events
                where events.instance_id = counted.instance_id
            ) as first_event_at,
            (
                select max(events.received_at)
                from {{ ref('int_stream_events__deduped') }} as events
                where events.instance_id = counted.instance_id
            ) as last_event_at,
            counted.event_count
        from counted
    ),
{% else %}
    event_activity as (
        select
            instance_id,
            min(instance_url) as instance_url,
            min(received_at) as first_event_at,
            max(received_at) as last_event_at,
            count(*) as event_count
        from {{ ref('int_stream_events__deduped') }}
        group by instance_id
    ),
{% endif %}

instance_ids as (
    select instance_id from latest
    union
    select instance_id from event_activity
),

final as (
    select
        instance_ids.instance_id,
        coalesce(latest.instance_url, event_activity.instance_url) as base_url,
        latest.title,
        latest.api_version,
        latest.software_version,
        latest.streaming_url,
        coalesce(latest.streams, {{ json_empty_array() }}) as streams,
        stream_names.stream_types,
        latest.timelines_access,
        latest.live_feeds_local,
        latest.live_feeds_remote,
        latest.hashtag_feeds_local,
        latest.hashtag_feeds_remote,
        coalesce(latest.live_feeds_local, 'public') <> 'disabled' as is_local_live_feed_available,
        least(latest.first_observed_at, event_activity.first_event_at) as created_at,
        greatest(latest.last_observed_at, event_activity.last_event_at) as last_seen_at,
        event_activity.first_event_at,
        event_activity.last_event_at,
        coalesce(event_activity.event_count, 0) as event_count,
        {{ run_started_timestamptz() }} as refreshed_at
    from instance_ids
    left join latest on instance_ids.instance_id = latest.instance_id
    left join stream_names on instance_ids.instance_id = stream_names.instance_id
    left join event_activity on instance_ids.instance_id = event_activity.instance_id
)

select * from final
