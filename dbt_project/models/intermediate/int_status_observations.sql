{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forkalytics.prefer_parallel_plans() }}",
            "{{ forkalytics.backfill_observation_card_urls() }}",
        ],
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.privacy_hook_status_observations() }}",
            "{{ forkalytics.lookup_index('observed', ['observed_at']) }}",
            "{{ forkalytics.lookup_index('status', ['status_id']) }}",
            "{{ forkalytics.lookup_index('account_recency', ['instance_id', 'account_id', 'observed_at', 'event_id']) }}",
        ],
        on_schema_change='append_new_columns',
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

  Incremental: the deduplicated events refreshed (written or re-ranked) since this model's last run
  (`refreshed_at`, macros/incremental.sql), whenever their deliveries were loaded; a duplicate delivery
  that replaces an event's first delivery rewrites the event there, so it is read again here.
  The index on observed_at (a hook, so warehouses built before it get it too) answers
  post_metric_snapshots' reference time (the newest observation) and the rows its thinning boundaries cross;
  the one on (instance_id, account_id, observed_at, event_id) finds an account's observations, and its
  newest and first one as a probe (marts.accounts).

  `card_url` is the preview card's URL, parsed from the payload once here so that marts.posts (and through
  it trending_links) need not read the payloads again: null when the status has no card object, '' when the
  card has no URL. The privacy hook blanks it (null) for deleted posts, as the loader drops a deleted post's
  card; an opted-out account's card URL stays (it is collected for every post, README "Privacy and consent").
  A table built before the column existed gets it filled for its rows by the pre-hook (macros/cards.sql).
-#}
with

events as (
    select *
    from {{ ref('int_stream_events__deduped') }}
    where
        {% if is_incremental() %} -- noqa: LT02
            refreshed_at > {{ last_refreshed_at() }}
            and
        {% endif %}
        carries_status
        and parse_error is null
)

-- The costly per-event work that needs nothing but the event (the markup of the HTML removed: regular
-- expressions, ~25 µs a post; the card URL, which reads the payload; the account profile's hash) is done in
-- a fenced subquery (macros/engine/planner.sql), which a full build runs in parallel workers; the lateral
-- lists and the decoding of rare numeric entities (correlated subqueries, which PostgreSQL keeps out of
-- workers) are done on its rows. Selected in the main query, not in a CTE: a CTE over a fenced subquery is
-- always materialised.
{%- set media_id_or_unknown = "coalesce(" ~ json_get_text('media.value', ['id']) ~ ", '?')" %}
select
    observed.event_id,
    observed.instance_id,
    observed.instance_url,
    observed.status_id,
    observed.event_type,
    observed.event_source,
    observed.stream,
    observed.received_at as observed_at,
    observed.last_loaded_at,
    observed.uri,
    observed.url,
    observed.created_at,
    observed.edited_at,
    observed.content_html,
    {{ html_decode_entities('observed.content_without_markup', 'observed.content_html') }} as content_text,
    observed.spoiler_text,
    observed.sensitive,
    observed.language,
    observed.visibility,
    observed.in_reply_to_id,
    observed.in_reply_to_account_id,
    observed.reblog_of_id,
    observed.reblog_of_uri,
    observed.replies_count,
    observed.reblogs_count,
    observed.favourites_count,
    observed.quotes_count,
    case
        when {{ json_type('observed.media_attachments') }} = 'array'
            then observed.media_attachments
        else {{ json_empty_array() }}
    end as media_attachments,
    cast(coalesce(media_per_event.media_count, 0) as integer) as media_count,
    coalesce(media_per_event.media_ids, '') as media_ids,
    coalesce(hashtags_per_event.hashtags, {{ json_empty_array() }}) as hashtags,
    coalesce(mentions_per_event.mentions, {{ json_empty_array() }}) as mentions,
    {{ json_type('observed.poll') }} = 'object' as has_poll,
    observed.application_name,
    observed.account_id,
    observed.account_username,
    observed.account_acct,
    observed.account_display_name,
    observed.account_note_html,
    observed.account_url,
    observed.account_uri,
    observed.account_avatar_url,
    observed.account_is_bot,
    observed.account_is_group,
    observed.account_is_locked,
    observed.account_is_discoverable,
    observed.account_created_at,
    observed.account_last_status_at,
    observed.account_followers_count,
    observed.account_following_count,
    observed.account_statuses_count,
    observed.account_fields,
    {{ run_started_timestamptz() }} as refreshed_at,
    {{ hash_key([
        'observed.edited_at', 'observed.content_html', 'observed.spoiler_text',
        'observed.sensitive', "coalesce(media_per_event.media_ids, '')"
    ]) }} as version_key,
    observed.account_profile_key,
    -- last, where an upgraded table has it too (macros/cards.sql)
    observed.card_url
from (
    select
        events.*,
        {{ html_markup_to_text('events.content_html') }} as content_without_markup,
        {{ hash_key([
            'events.account_username', 'events.account_acct', 'events.account_display_name',
            'events.account_note_html', 'events.account_url', 'events.account_avatar_url',
            'events.account_is_bot', 'events.account_is_group', 'events.account_is_locked',
            'events.account_is_discoverable', 'events.account_fields'
        ]) }} as account_profile_key,
        {{ observation_card_url('events.payload') }} as card_url,
        {{ evaluation_fence('computed_once') }}
    from events
) as observed
-- per event, in lateral subqueries: no join of the wide event rows (which sorted them all by event_id)
cross join
    lateral (
        select
            {{ json_array_agg('tags.hashtag_name', 'tags.first_position, tags.hashtag_name') }} as hashtags
        from (
            select
                tag_names.hashtag_name,
                min(tag_names.ordinal) as first_position
            from (
                select
                    case
                        when {{ json_type(json_get('tag.value', ['name'])) }} = 'string'
                            then lower(btrim({{ json_get_text('tag.value', ['name']) }}, '# '))
                    end as hashtag_name,
                    tag.ordinal
                from (select observed.tags) as event_tags
                {{ json_array_rows('event_tags.tags', 'tag') }}
            ) as tag_names
            where tag_names.hashtag_name is not null and tag_names.hashtag_name <> ''
            group by tag_names.hashtag_name
        ) as tags
    ) as hashtags_per_event
cross join
    lateral (
        select {{ json_array_agg('mention.value', 'mention.ordinal') }} as mentions
        from (select observed.mentions) as event_mentions
        {{ json_array_rows('event_mentions.mentions', 'mention') }}
        where {{ json_get_text('mention.value', ['id']) }} is not null
    ) as mentions_per_event
cross join lateral (
    select
        {{ string_agg_ordered(media_id_or_unknown, ',', 'media.ordinal') }} as media_ids,
        count(*) as media_count
    from (select observed.media_attachments) as event_media
    {{ json_array_rows('event_media.media_attachments', 'media') }}
) as media_per_event
