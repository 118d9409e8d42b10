{#-
  The instance dimension: one row per monitored instance, from its start-up observations (software and
  API version, configured streams, live-feed access) and the events it delivered. An instance known only
  from events (no start-up row yet) is listed with null descriptive fields.
-#}
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
        coalesce(event_activity.event_count, 0) as event_count
    from instance_ids
    left join latest on instance_ids.instance_id = latest.instance_id
    left join stream_names on instance_ids.instance_id = stream_names.instance_id
    left join event_activity on instance_ids.instance_id = event_activity.instance_id
)

select * from final
