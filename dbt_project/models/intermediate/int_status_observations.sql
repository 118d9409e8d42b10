{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        post_hook="{{ forkalytics.privacy_hook_status_observations() }}",
        on_schema_change='fail',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['instance_id', 'status_id']},
        ],
    )
}}
{#-
  One row per (deduplicated) event that carried a usable Status: an observation of a post's state at
  `observed_at`, whatever its source (stream, back-fill, poll, import, legacy). Observations of the same
  content are the same version (`version_key`); counts and `observed_at` make the metric history.
-#}
with

{% if is_incremental() %}
    watermark as (
        select {{ incremental_since('last_loaded_at') }} as since from {{ this }}
    ),
{% endif %}

events as (
    select *
    from {{ ref('int_stream_events__deduped') }}
    where
        carries_status
        and parse_error is null
        {% if is_incremental() %}
            and last_loaded_at >= (select watermark.since from watermark)
        {% endif %}
),

tag_rows as (
    select
        events.event_id,
        case
            when {{ json_type(json_get('tag.value', ['name'])) }} = 'string'
                then lower(btrim({{ json_get_text('tag.value', ['name']) }}, '# '))
        end as hashtag_name,
        tag.ordinal
    from events
    {{ json_array_rows('events.tags', 'tag') }}
),

hashtags_per_event as (
    select
        event_id,
        {{ json_array_agg('hashtag_name', 'first_position, hashtag_name') }} as hashtags
    from (
        select
            event_id,
            hashtag_name,
            min(ordinal) as first_position
        from tag_rows
        where hashtag_name is not null and hashtag_name <> ''
        group by event_id, hashtag_name
    ) as distinct_tags
    group by event_id
),

mention_rows as (
    select
        events.event_id,
        mention.value as mention,
        {{ json_get_text('mention.value', ['id']) }} as mentioned_account_id,
        mention.ordinal
    from events
    {{ json_array_rows('events.mentions', 'mention') }}
),

mentions_per_event as (
    select
        event_id,
        {{ json_array_agg('mention', 'ordinal') }} as mentions
    from mention_rows
    where mentioned_account_id is not null
    group by event_id
),

media_rows as (
    select
        events.event_id,
        {{ json_get_text('media.value', ['id']) }} as media_id,
        media.ordinal
    from events
    {{ json_array_rows('events.media_attachments', 'media') }}
),

media_per_event as (
    select
        event_id,
        {{ string_agg_ordered('coalesce(media_id, \'?\')', ',', 'ordinal') }} as media_ids,
        count(*) as media_count
    from media_rows
    group by event_id
),

final as (
    select
        events.event_id,
        events.instance_id,
        events.instance_url,
        events.status_id,
        events.event_type,
        events.event_source,
        events.stream,
        events.received_at as observed_at,
        events.last_loaded_at,
        events.uri,
        events.url,
        events.created_at,
        events.edited_at,
        events.content_html,
        {{ html_to_text('events.content_html') }} as content_text,
        events.spoiler_text,
        events.sensitive,
        events.language,
        events.visibility,
        events.in_reply_to_id,
        events.in_reply_to_account_id,
        events.reblog_of_id,
        events.reblog_of_uri,
        events.replies_count,
        events.reblogs_count,
        events.favourites_count,
        events.quotes_count,
        case
            when {{ json_type('events.media_attachments') }} = 'array'
                then events.media_attachments
            else {{ json_empty_array() }}
        end as media_attachments,
        cast(coalesce(media_per_event.media_count, 0) as integer) as media_count,
        coalesce(media_per_event.media_ids, '') as media_ids,
        coalesce(hashtags_per_event.hashtags, {{ json_empty_array() }}) as hashtags,
        coalesce(mentions_per_event.mentions, {{ json_empty_array() }}) as mentions,
        {{ json_type('events.poll') }} = 'object' as has_poll,
        events.application_name,
        events.account_id,
        events.account_username,
        events.account_acct,
        events.account_display_name,
        events.account_note_html,
        events.account_url,
        events.account_uri,
        events.account_avatar_url,
        events.account_is_bot,
        events.account_is_group,
        events.account_is_locked,
        events.account_is_discoverable,
        events.account_created_at,
        events.account_last_status_at,
        events.account_followers_count,
        events.account_following_count,
        events.account_statuses_count,
        events.account_fields,
        {{ hash_key([
            'events.edited_at', 'events.content_html', 'events.spoiler_text',
            'events.sensitive', "coalesce(media_per_event.media_ids, '')"
        ]) }} as version_key,
        {{ hash_key([
            'events.account_username', 'events.account_acct', 'events.account_display_name',
            'events.account_note_html', 'events.account_url', 'events.account_avatar_url',
            'events.account_is_bot', 'events.account_is_group', 'events.account_is_locked',
            'events.account_is_discoverable', 'events.account_fields'
        ]) }} as account_profile_key
    from events
    left join hashtags_per_event on events.event_id = hashtags_per_event.event_id
    left join mentions_per_event on events.event_id = mentions_per_event.event_id
    left join media_per_event on events.event_id = media_per_event.event_id
)

select * from final
