{#-
  One row per post reported gone: by a `delete` event (deleted) or by a 404 on metric refresh
  (`poll.missing`, gone: deleted or no longer public). `deleted_at` is when the first such report was
  received. A delete may arrive before the post itself, or for a post never seen.
-#}
with

removals as (
    select
        instance_id,
        status_id,
        event_id,
        event_type,
        received_at,
        last_loaded_at,
        row_number() over (
            partition by instance_id, status_id
            order by received_at, case event_type when 'delete' then 0 else 1 end, event_id
        ) as removal_rank,
        max(last_loaded_at) over (partition by instance_id, status_id) as max_loaded_at
    from {{ ref('int_stream_events__deduped') }}
    where carries_status_id and parse_error is null
),

final as (
    select
        instance_id,
        status_id,
        received_at as deleted_at,
        case event_type when 'delete' then 'deleted' else 'gone' end as deletion_reason,
        event_id as deletion_event_id,
        max_loaded_at as last_loaded_at
    from removals
    where removal_rank = 1
)

select * from final
