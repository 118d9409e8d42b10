{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        post_hook="{{ forkalytics.privacy_hook_deduped_events() }}",
        on_schema_change='fail',
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
-#}
with

{% if is_incremental() %}
    watermark as (
        select {{ incremental_since('last_loaded_at') }} as since from {{ this }}
    ),
{% endif %}

new_deliveries as (
    select
        events.*,
        events.received_at as last_received_at,
        events.loaded_at as last_loaded_at,
        {{ run_started_timestamptz() }} as processed_at
    from {{ ref('stg_mastodon__stream_events') }} as events
    {% if is_incremental() %}
        where events.loaded_at >= (select watermark.since from watermark)
    {% endif %}
),

candidates as (
    select * from new_deliveries
    {% if is_incremental() %}
        union all
        select kept.*
        from {{ this }} as kept
        where kept.event_id in (select new_deliveries.event_id from new_deliveries)
    {% endif %}
),

ranked as (
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
),

final as (
    select
        event_id,
        instance_id,
        instance_url,
        stream,
        event_source,
        event_type,
        received_at,
        dlt_load_id,
        loaded_at,
        batch_key,
        payload,
        payload_type,
        payload_status_id,
        payload_error,
        payload_escaped,
        is_known_event_type,
        carries_status,
        carries_status_id,
        status_id,
        parse_error,
        parse_warning,
        uri,
        url,
        created_at,
        edited_at,
        content_html,
        spoiler_text,
        sensitive,
        visibility,
        language,
        in_reply_to_id,
        in_reply_to_account_id,
        reblog_of_id,
        reblog_of_uri,
        replies_count,
        reblogs_count,
        favourites_count,
        quotes_count,
        media_attachments,
        mentions,
        tags,
        poll,
        application_name,
        account_id,
        account_username,
        account_acct,
        account_display_name,
        account_note_html,
        account_url,
        account_uri,
        account_avatar_url,
        account_is_bot,
        account_is_group,
        account_is_locked,
        account_is_discoverable,
        account_created_at,
        account_last_status_at,
        account_followers_count,
        account_following_count,
        account_statuses_count,
        account_fields,
        max_received_at as last_received_at,
        max_loaded_at as last_loaded_at,
        first_processed_at as processed_at
    from ranked
    where delivery_rank = 1
)

select * from final
