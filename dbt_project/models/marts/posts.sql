{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forkalytics.backfill_post_card_urls() }}",
            "{{ forkalytics.hash_joins_only() if is_incremental() }}",
        ],
        post_hook=[
            "{{ forkalytics.privacy_hook_posts() }}",
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('account', ['instance_id', 'account_id']) }}",
            "{{ forkalytics.lookup_index('reply', ['instance_id', 'in_reply_to_id']) }}",
            "{{ forkalytics.lookup_index('uri', ['uri']) }}",
            "{{ forkalytics.lookup_index('popularity', ['instance_id', 'engagement_score desc', 'created_at desc', 'post_id']) }}",
        ],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['instance_id', 'post_id'], 'unique': true},
            {'columns': ['created_at']},
        ],
    )
}}
{#-
  One row per post (instance-scoped key: post_id, instance_id): its current state. Content comes from the
  current version (post_versions), counts from the most recent observation of any source. Deleted posts
  keep their row with `deleted_at` set and their text redacted (var redact_deleted_content); every
  count over this table must say whether it filters `deleted_at is null`.

  Incremental: the posts whose versions (int_post_versions rewrites every version of a post it recomputes)
  or observations were refreshed since the last run are recomputed from all of their versions and
  observations (found by their (instance_id, post_id) indexes as bitmap scans; no nested loops: the rank
  filters defeat the planner's estimates, see touched_keys_filter) and replace their rows. Text of an account
  that opts out later is blanked by the privacy post-hook, which marks the rows it changes refreshed.

  `card_url` is the link card of the post's newest observation that has a card (null when that card has no
  URL, or for a deleted post while its text is redacted): what trending_links counts, so it reads no payload.
  A table built before the column existed gets it filled by the pre-hook (macros/cards.sql). The index on
  (instance_id, engagement_score desc, created_at desc, post_id) serves dashboard_popular_posts' top posts.
-#}
with

{% if is_incremental() %}
    touched_posts as (
        select
            versions.instance_id,
            versions.post_id
        from {{ ref('int_post_versions') }} as versions
        where versions.refreshed_at > {{ last_refreshed_at() }}
        union
        select
            observations.instance_id,
            observations.status_id as post_id
        from {{ ref('int_status_observations') }} as observations
        where observations.refreshed_at > {{ last_refreshed_at() }}
    ),
{% endif %}

current_versions as (
    select versions.*
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        inner join touched_posts
            on
                versions.instance_id = touched_posts.instance_id
                and versions.post_id = touched_posts.post_id
    {% endif %}
    where
        versions.is_current
        {% if is_incremental() %}
            and {{ touched_keys_filter('versions.instance_id', 'versions.post_id', 'touched_posts', 'post_id') }}
        {% endif %}
),

-- only the columns used below: the window functions sort every observation, so leaving out the text,
-- media and profile columns makes the rows several times narrower
observations_ranked as (
    select
        observations.instance_id,
        observations.status_id,
        observations.uri,
        observations.url,
        observations.account_id,
        observations.account_acct,
        observations.visibility,
        observations.in_reply_to_id,
        observations.in_reply_to_account_id,
        observations.reblog_of_id,
        observations.reblog_of_uri,
        observations.application_name,
        observations.replies_count,
        observations.reblogs_count,
        observations.favourites_count,
        observations.quotes_count,
        observations.observed_at,
        observations.card_url,
        row_number() over (
            partition by observations.instance_id, observations.status_id
            order by observations.observed_at desc, observations.event_id desc
        ) as recency_rank,
        row_number() over (
            partition by observations.instance_id, observations.status_id
            order by
                case
                    when
                        observations.replies_count is not null
                        and observations.reblogs_count is not null
                        and observations.favourites_count is not null
                        then 0
                    else 1
                end,
                observations.observed_at desc,
                observations.event_id desc
        ) as metrics_rank,
        -- the observations with a card up to this one, newest first (the same order as recency_rank: one sort)
        count(observations.card_url) over (
            partition by observations.instance_id, observations.status_id
            order by observations.observed_at desc, observations.event_id desc
            rows between unbounded preceding and current row
        ) as cards_up_to,
        min(observations.observed_at) over (
            partition by observations.instance_id, observations.status_id
        ) as first_seen_at,
        max(observations.observed_at) over (
            partition by observations.instance_id, observations.status_id
        ) as last_seen_at
    from {{ ref('int_status_observations') }} as observations
    {% if is_incremental() %}
        inner join touched_posts
            on
                observations.instance_id = touched_posts.instance_id
                and observations.status_id = touched_posts.post_id
        where
            {{ touched_keys_filter('observations.instance_id', 'observations.status_id', 'touched_posts', 'post_id') }}
    {% endif %}
),

latest_observations as (
    select * from observations_ranked
    where recency_rank = 1
),

-- counts from the newest observation whose counts all parsed (a poll with a bad count does not zero them)
latest_metrics as (
    select * from observations_ranked
    where metrics_rank = 1
),

-- the newest observation that has a card (posts without one have no row)
latest_cards as (
    select * from observations_ranked
    where cards_up_to = 1 and card_url is not null
),

final as (
    select
        latest.status_id as post_id,
        latest.instance_id,
        latest.uri,
        latest.url,
        latest.account_id,
        latest.account_acct,
        versions.created_at,
        versions.edited_at,
        {{ redacted('versions.content_html', 'versions.deleted_at') }} as content_html,
        {{ redacted('versions.content_text', 'versions.deleted_at') }} as content_text,
        {{ redacted('versions.spoiler_text', 'versions.deleted_at') }} as spoiler_text,
        versions.language,
        latest.visibility,
        versions.sensitive,
        latest.in_reply_to_id,
        latest.in_reply_to_account_id,
        latest.in_reply_to_id is not null as is_reply,
        latest.reblog_of_id,
        latest.reblog_of_uri,
        latest.reblog_of_id is not null as is_reblog,
        versions.media_count > 0 as has_media,
        versions.media_count,
        {{ redacted('versions.has_poll', 'versions.deleted_at') }} as has_poll,
        latest.application_name,
        coalesce(metrics.replies_count, 0) as replies_count,
        coalesce(metrics.reblogs_count, 0) as reblogs_count,
        coalesce(metrics.favourites_count, 0) as favourites_count,
        coalesce(metrics.quotes_count, 0) as quotes_count,
        {{ engagement_score('metrics.reblogs_count', 'metrics.favourites_count', 'metrics.replies_count') }}
            as engagement_score,
        case
            when
                metrics.replies_count is not null
                or metrics.reblogs_count is not null
                or metrics.favourites_count is not null
                then metrics.observed_at
        end as metrics_observed_at,
        versions.version_count,
        latest.first_seen_at,
        latest.last_seen_at,
        versions.deleted_at,
        versions.deleted_at is not null as is_deleted,
        versions.deletion_reason,
        {{ 'versions.deleted_at is not null' if redact_deleted() else 'false' }} as is_redacted,
        versions.hashtags,
        versions.mentions,
        {{ run_started_timestamptz() }} as refreshed_at,
        -- last, where an upgraded table has it too
        {{ redacted("nullif(cards.card_url, '')", 'versions.deleted_at') }} as card_url
    from latest_observations as latest
    inner join current_versions as versions
        on
            latest.instance_id = versions.instance_id
            and latest.status_id = versions.post_id
    inner join latest_metrics as metrics
        on
            latest.instance_id = metrics.instance_id
            and latest.status_id = metrics.status_id
    left join latest_cards as cards
        on
            latest.instance_id = cards.instance_id
            and latest.status_id = cards.status_id
)

select * from final
