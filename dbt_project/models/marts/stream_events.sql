{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.privacy_hook_stream_events() }}",
            "{{ forkalytics.refreshed_at_index() }}",
        ],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['instance_id', 'status_id']},
        ],
    )
}}
{#-
  The seed's event log: one row per distinct event (duplicate deliveries dropped) with what processing
  did with it, for "why is post X missing?": `process_outcome` and `process_error`. The payload of events
  about deleted posts is redacted (var redact_deleted_content). Incremental: the events refreshed since the
  last run, plus every event of a post whose versions or delete were refreshed since (its outcome or
  redaction may have changed); macros/incremental.sql.
-#}
with

{% if is_incremental() %}
    changed_posts as (
        select
            instance_id,
            post_id as status_id
        from {{ ref('int_post_versions') }}
        where refreshed_at > {{ last_refreshed_at() }}
        union
        select
            instance_id,
            status_id
        from {{ ref('int_status_deletes') }}
        where refreshed_at > {{ last_refreshed_at() }}
    ),

    -- keys first, then the wide rows by their unique index (a union of the rows would compare payloads)
    changed_events as (
        select events.event_id
        from {{ ref('int_stream_events__deduped') }} as events
        where events.refreshed_at > {{ last_refreshed_at() }}
        union
        select events.event_id
        from {{ ref('int_stream_events__deduped') }} as events
        inner join changed_posts
            on
                events.instance_id = changed_posts.instance_id
                and events.status_id = changed_posts.status_id
    ),
{% endif %}

events as (
    select events.*
    from {{ ref('int_stream_events__deduped') }} as events
    {% if is_incremental() %}
        where events.event_id in (select changed_events.event_id from changed_events)
    {% endif %}
),

post_state as (
    select
        versions.instance_id,
        versions.post_id,
        max(versions.source_loaded_at) as source_loaded_at
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        inner join (
            select distinct
                events.instance_id,
                events.status_id
            from events
        ) as event_posts
            on
                versions.instance_id = event_posts.instance_id
                and versions.post_id = event_posts.status_id
        -- by the (instance_id, post_id) index: the planner guesses few posts and would scan every version
        where {{ touched_keys_filter('versions.instance_id', 'versions.post_id', 'events', 'status_id') }}
    {% endif %}
    group by versions.instance_id, versions.post_id
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
        greatest(events.last_loaded_at, post_state.source_loaded_at, deletes.last_loaded_at) as source_loaded_at,
        {{ run_started_timestamptz() }} as refreshed_at
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
