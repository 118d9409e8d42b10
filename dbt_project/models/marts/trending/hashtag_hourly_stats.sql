{{
    config(
        materialized='incremental',
        unique_key='hour_ts',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['instance_id', 'hashtag_name', 'hour_ts'], 'unique': true},
            {'columns': ['hour_ts']},
        ],
    )
}}
{#-
  The seed's hashtag_hourly_stats: per scope (an instance, or 'fediverse' for posts deduplicated on uri
  across instances), hashtag and UTC hour of post creation — posts using the tag, distinct accounts, distinct
  servers, total engagement, and the counts the trending methods filter on (public posts; accounts that are
  not bots). Zero rows fill a tag's quiet hours up to var hashtag_stats_zero_fill_hours after each use (the
  baselines of the trending methods need them), never beyond the newest post's hour.

  Incremental: every hour from the earliest of (a) the newest hour minus hashtag_stats_recompute_hours and
  (b) the creation hour of any post changed (observed, re-counted or deleted) since the newest hour minus
  incremental_lookback_hours is recomputed; delete+insert by hour replaces those hours whole.
-#}
{% set fill_hours = var('hashtag_stats_zero_fill_hours') | int %}
with

uses as (
    select * from {{ ref('hashtag_uses') }}
),

newest as (
    select {{ truncate_timestamp('hour', 'max(posts.created_at)') }} as last_hour
    from {{ ref('posts') }} as posts
),

{% if is_incremental() %}
    previous as (
        select max(hour_ts) as last_hour from {{ this }}
    ),

    recompute as (
        select
            least(
                {{ hours_before('(select previous.last_hour from previous)', var('hashtag_stats_recompute_hours')) }},
                (
                    select min({{ truncate_timestamp('hour', 'changed.created_at') }})
                    from {{ ref('posts') }} as changed
                    where
                        greatest(changed.last_seen_at, changed.metrics_observed_at, changed.deleted_at)
                        >= {{ hours_before('(select previous.last_hour from previous)',
                                        var('incremental_lookback_hours')) }}
                )
            ) as from_hour
    ),
{% else %}
    recompute as (
        select cast(null as timestamptz) as from_hour
    ),
{% endif %}

counted as (
    select
        uses.scope_id,
        uses.hashtag_name,
        {{ truncate_timestamp('hour', 'uses.created_at') }} as hour_ts,
        count(distinct uses.post_key) as posts_using_tag,
        count(distinct uses.account_key) as unique_accounts_using_tag,
        count(distinct uses.account_domain) as unique_servers_using_tag,
        count(distinct uses.post_key) filter (where uses.is_public) as public_posts_using_tag,
        count(distinct uses.account_key) filter (where uses.is_public) as public_accounts_using_tag,
        count(distinct uses.account_key) filter (where not uses.is_bot) as human_accounts_using_tag,
        sum(uses.engagement_score) as total_engagement
    from uses
    cross join recompute
    where
        recompute.from_hour is null
        or uses.created_at >= {{ hours_before('recompute.from_hour', fill_hours + 1) }}
    group by uses.scope_id, uses.hashtag_name, {{ truncate_timestamp('hour', 'uses.created_at') }}
),

islands as (
    -- each hour with uses covers the quiet hours after it, up to the next use or the fill limit
    select
        counted.scope_id,
        counted.hashtag_name,
        counted.hour_ts as island_start,
        least(
            coalesce(
                lead(counted.hour_ts) over (
                    partition by counted.scope_id, counted.hashtag_name order by counted.hour_ts
                ) - interval '1 hour',
                newest.last_hour
            ),
            counted.hour_ts + make_interval(hours => {{ fill_hours }}),
            newest.last_hour
        ) as island_end
    from counted
    cross join newest
),

hours as (
    select
        islands.scope_id,
        islands.hashtag_name,
        series.hour_ts
    from islands
    cross join lateral generate_series(islands.island_start, islands.island_end, interval '1 hour')
        as series (hour_ts)
),

final as (
    select
        hours.scope_id as instance_id,
        hours.hashtag_name,
        hours.hour_ts,
        cast(coalesce(counted.posts_using_tag, 0) as bigint) as posts_using_tag,
        cast(coalesce(counted.unique_accounts_using_tag, 0) as bigint) as unique_accounts_using_tag,
        cast(coalesce(counted.unique_servers_using_tag, 0) as bigint) as unique_servers_using_tag,
        cast(coalesce(counted.public_posts_using_tag, 0) as bigint) as public_posts_using_tag,
        cast(coalesce(counted.public_accounts_using_tag, 0) as bigint) as public_accounts_using_tag,
        cast(coalesce(counted.human_accounts_using_tag, 0) as bigint) as human_accounts_using_tag,
        cast(coalesce(counted.total_engagement, 0) as double precision) as total_engagement
    from hours
    cross join recompute
    left join counted
        on
            hours.scope_id = counted.scope_id
            and hours.hashtag_name = counted.hashtag_name
            and hours.hour_ts = counted.hour_ts
    where recompute.from_hour is null or hours.hour_ts >= recompute.from_hour
)

select * from final
