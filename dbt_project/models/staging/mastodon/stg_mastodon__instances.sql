{#- One row per start-up observation of a monitored instance, typed, with the live-feed access levels. -#}
with

source_instances as (
    select * from {{ source('mastodon_raw', 'instances') }}
),

final as (
    select
        cast(instance_id as text) as instance_id,
        cast(instance_url as text) as instance_url,
        cast(api_version as text) as api_version,
        cast(software_version as text) as software_version,
        cast(title as text) as title,
        cast(streaming_url as text) as streaming_url,
        case
            when {{ json_type('streams') }} = 'array' then streams else {{ json_empty_array() }}
        end as streams,
        timelines_access,
        {{ json_get_text('timelines_access', ['live_feeds', 'local']) }} as live_feeds_local,
        {{ json_get_text('timelines_access', ['live_feeds', 'remote']) }} as live_feeds_remote,
        {{ json_get_text('timelines_access', ['hashtag_feeds', 'local']) }} as hashtag_feeds_local,
        {{ json_get_text('timelines_access', ['hashtag_feeds', 'remote']) }} as hashtag_feeds_remote,
        observed_at,
        cast(_dlt_load_id as text) as dlt_load_id,
        coalesce({{ dlt_load_id_to_timestamptz('_dlt_load_id') }}, observed_at) as loaded_at
    from source_instances
)

select * from final
