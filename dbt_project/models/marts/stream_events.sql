{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        post_hook="{{ forkalytics.privacy_hook_stream_events() }}",
        on_schema_change='fail',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['instance_id', 'status_id']},
            {'columns': ['source_loaded_at']},
        ],
    )
}}
{#-
  The seed's event log: one row per distinct event (duplicate deliveries dropped) with what processing
  did with it, for "why is post X missing?": `process_outcome` and `process_error`. The payload of events
  about deleted posts is redacted (var redact_deleted_content). Incremental: new events, plus every event
  of a post whose state changed since the last run (its outcome or redaction may have changed).
-#}
with

{% if is_incremental() %}
    watermark as (
        select {{ incremental_since('source_loaded_at') }} as since from {{ this }}
    ),

    touched_posts as (
        select distinct
            instance_id,
            post_id as status_id
        from {{ ref('int_post_versions') }}
        where source_loaded_at >= (select watermark.since from watermark)
        union
        select distinct
            instance_id,
            status_id
        from {{ ref('int_status_deletes') }}
        where last_loaded_at >= (select watermark.since from watermark)
    ),
{% endif %}

events as (
    select events.*
    from {{ ref('int_stream_events__deduped') }} as events
    {% if is_incremental() %}
        where
            events.last_loaded_at >= (select watermark.since from watermark)
            or exists (
                select 1
                from touched_posts
                where
                    touched_posts.instance_id = events.instance_id
                    and touched_posts.status_id = events.status_id
            )
    {% endif %}
),

post_state as (
    select
        instance_id,
        post_id,
        max(source_loaded_at) as source_loaded_at
    from {{ ref('int_post_versions') }}
    group by instance_id, post_id
),

final as (
    select
        events.event_id,
        events.instance_id,
        events.instance_url,
        events.stream,
        events.event_source as source,
        events.event_type,
        events.received_at,
        events.last_received_at,
        events.loaded_at,
        events.status_id,
        events.payload_status_id,
        {%- if redact_deleted() %}
            case
                when deletes.deleted_at is not null and events.carries_status then null
                else events.payload
            end as payload,
            deletes.deleted_at is not null and events.carries_status as is_redacted,
        {%- else %}
            events.payload,
            false as is_redacted,
        {%- endif %}
        events.processed_at,
        case
            when events.parse_error is not null then 'rejected'
            when events.carries_status and deletes.deleted_at is not null and events.received_at > deletes.deleted_at
                then 'applied_after_delete'
            when events.carries_status then 'applied'
            when post_state.post_id is null then 'post_not_seen'
            else 'applied'
        end as process_outcome,
        coalesce(events.parse_error, events.parse_warning) as process_error,
        greatest(events.last_loaded_at, post_state.source_loaded_at, deletes.last_loaded_at) as source_loaded_at
    from events
    left join {{ ref('int_status_deletes') }} as deletes
        on
            events.instance_id = deletes.instance_id
            and events.status_id = deletes.status_id
    left join post_state
        on
            events.instance_id = post_state.instance_id
            and events.status_id = post_state.post_id
)

select * from final
