{{
    config(
        materialized='incremental',
        unique_key='hour_ts',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forkalytics.index_lookups_only() if is_incremental() }}",
            "{{ forkalytics.hashtag_hourly_stats_delete_recomputed() }}",
        ],
        post_hook=["{{ forkalytics.refreshed_at_index() }}"],
        on_schema_change='append_new_columns',
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

  Incremental: every hour from the earliest hour a use changed in since the last run, and at least the
  newest hour kept, is rewritten (the pre-hook deletes those hours first). Only the keys whose uses changed
  (macros/touched_keys.sql: the keys of the hashtag_uses rows refreshed since, and every key of the creation
  hours of the posts refreshed since and of the other copies of their uris, whose old uses left no row) are
  counted anew from their uses (a lookup per key in the (scope_id, hashtag_name, created_at) index, which
  index_lookups_only makes the planner take); the other hours keep
  their counts, and the zero rows are laid out again from the hours with uses (those before the rewritten
  hours as kept).
-#}
-- depends_on: {{ ref('int_post_versions') }}
-- depends_on: {{ ref('int_status_deletes') }}
-- depends_on: {{ ref('int_status_observations') }}
{% set fill_hours = var('hashtag_stats_zero_fill_hours') | int %}
{#- incremental by key; not when the rows kept have no refreshed_at yet: then every hour is rebuilt -#}
{% set by_key = is_incremental() and 'infinity' not in last_refreshed_at() %}
with

uses as (
    select * from {{ ref('hashtag_uses') }}
),

newest as (
    select {{ truncate_timestamp('hour', 'max(posts.created_at)') }} as last_hour
    from {{ ref('posts') }} as posts
),

recompute as (
    {% if by_key %}
        -- the first hour rewritten, chosen by the pre-hook
        select rewritten_from.from_hour from {{ hashtag_hourly_stats_rewritten('from') }} as rewritten_from
    {% else %}
        select cast(null as timestamptz) as from_hour
    {% endif %}
),

{% if by_key %}
    changed_keys as (
        {{ hashtag_hourly_stats_changed_keys(
            '(select * from ' ~ this ~ ' union all select * from ' ~ hashtag_hourly_stats_rewritten('hours') ~ ')') }}
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
    {% if by_key %}
        -- the uses of the changed keys only, hour by hour (the (scope_id, hashtag_name, created_at) index)
        inner join changed_keys
            on
                uses.scope_id = changed_keys.scope_id
                and uses.hashtag_name = changed_keys.hashtag_name
                and uses.created_at >= changed_keys.hour_ts
                and uses.created_at < changed_keys.hour_ts + interval '1 hour'
        cross join recompute
        where changed_keys.hour_ts >= recompute.from_hour
    {% endif %}
    group by uses.scope_id, uses.hashtag_name, {{ truncate_timestamp('hour', 'uses.created_at') }}
    {% if by_key %}
        union all
        -- the other rewritten hours with uses did not change: their counts as kept (the pre-hook moved them)
        select
            kept.instance_id as scope_id,
            kept.hashtag_name,
            kept.hour_ts,
            kept.posts_using_tag,
            kept.unique_accounts_using_tag,
            kept.unique_servers_using_tag,
            kept.public_posts_using_tag,
            kept.public_accounts_using_tag,
            kept.human_accounts_using_tag,
            kept.total_engagement
        from {{ hashtag_hourly_stats_rewritten('hours') }} as kept
        where
            kept.posts_using_tag > 0
            and not exists (
                select 1 from changed_keys
                where
                    kept.instance_id = changed_keys.scope_id
                    and kept.hashtag_name = changed_keys.hashtag_name
                    and kept.hour_ts = changed_keys.hour_ts
            )
    {% endif %}
),

use_hours as (
    select
        counted.scope_id,
        counted.hashtag_name,
        counted.hour_ts
    from counted
    {% if by_key %}
        union all
        -- the hours with uses before the recomputed ones, as kept: their zero rows may reach past from_hour
        select
            kept.instance_id as scope_id,
            kept.hashtag_name,
            kept.hour_ts
        from {{ this }} as kept
        cross join recompute
        where
            kept.hour_ts >= {{ hours_before('recompute.from_hour', fill_hours) }}
            and kept.hour_ts < recompute.from_hour
            and kept.posts_using_tag > 0
    {% endif %}
),

islands as (
    -- each hour with uses covers the quiet hours after it, up to the next use or the fill limit
    select
        use_hours.scope_id,
        use_hours.hashtag_name,
        use_hours.hour_ts as island_start,
        least(
            coalesce(
                lead(use_hours.hour_ts) over (
                    partition by use_hours.scope_id, use_hours.hashtag_name order by use_hours.hour_ts
                ) - interval '1 hour',
                newest.last_hour
            ),
            use_hours.hour_ts + make_interval(hours => {{ fill_hours }}),
            newest.last_hour
        ) as island_end
    from use_hours
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
        cast(coalesce(counted.total_engagement, 0) as double precision) as total_engagement,
        {{ run_started_timestamptz() }} as refreshed_at
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
