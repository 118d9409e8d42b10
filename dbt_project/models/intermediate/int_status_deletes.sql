{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'status_id'],
        incremental_strategy='delete+insert',
        post_hook="{{ forkalytics.refreshed_at_index() }}",
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['instance_id', 'status_id'], 'unique': true},
        ],
    )
}}
{#-
  One row per post reported gone: by a `delete` event (deleted) or by a 404 on metric refresh
  (`poll.missing`, gone: deleted or no longer public). `deleted_at` is when the first such report was
  received. A delete may arrive before the post itself, or for a post never seen.

  Incremental: the posts with a removal event refreshed since the last run are recomputed from all of
  their removal events (the first report wins, whenever it was loaded).
-#}
with

{% if is_incremental() %}
    changed_posts as (
        select distinct
            instance_id,
            status_id
        from {{ ref('int_stream_events__deduped') }}
        where
            refreshed_at > {{ last_refreshed_at() }}
            and carries_status_id
            and parse_error is null
    ),
{% endif %}

-- (the event log is read twice rather than through one CTE, which PostgreSQL would materialise whole)
removals as (
    select
        events.instance_id,
        events.status_id,
        events.event_id,
        events.event_type,
        events.received_at,
        row_number() over (
            partition by events.instance_id, events.status_id
            order by events.received_at, case events.event_type when 'delete' then 0 else 1 end, events.event_id
        ) as removal_rank,
        max(events.last_loaded_at) over (partition by events.instance_id, events.status_id) as max_loaded_at
    from {{ ref('int_stream_events__deduped') }} as events
    {% if is_incremental() %}
        inner join changed_posts
            on
                events.instance_id = changed_posts.instance_id
                and events.status_id = changed_posts.status_id
    {% endif %}
    where events.carries_status_id and events.parse_error is null
),

final as (
    select
        instance_id,
        status_id,
        received_at as deleted_at,
        case event_type when 'delete' then 'deleted' else 'gone' end as deletion_reason,
        event_id as deletion_event_id,
        max_loaded_at as last_loaded_at,
        {{ run_started_timestamptz() }} as refreshed_at
    from removals
    where removal_rank = 1
)

select * from final
