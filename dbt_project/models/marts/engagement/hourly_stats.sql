{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'hour_ts'],
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.trim_hourly_series('posts > 0 or boosts_made > 0') }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  The dashboard's hourly series per instance: every UTC hour from the instance's first post to the newest
  post of the warehouse is a row (quiet hours are zeros). Per hour of creation: posts (not boosts, not
  deleted), boosts made, boosts and replies those posts received (their current counts), total and average
  engagement score, and the average sentiment of the posts that have one (enrichment; null until then).

  Incremental (delete+insert by instance and hour): the hours recomputed are those of the posts whose
  versions, deletion or observations were refreshed since the last run (every creation time any of their
  observations reports, so the hour a post was counted in before is among them), those of the posts with a
  sentiment result written since the last run (written_at, minus incremental_lookback_hours for results
  committed while that run was reading), and the hours of the new series range missing from the table.
  A recomputed hour without posts is written as zeros; the range is derived from the hours that have posts
  (every such hour is either recomputed now or unchanged), and the post-hook trim_hourly_series deletes the
  rows outside it (an instance's first hours, or the newest hours, whose posts were all deleted).
-#}
-- depends_on: {{ ref('int_post_versions') }}
-- depends_on: {{ ref('int_status_deletes') }}
-- depends_on: {{ ref('int_status_observations') }}
with

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null
),

{% if is_incremental() %}
    changed_posts as (
        {{ changed_posts() }}
    ),

    touched_hours as (
        select
            observations.instance_id,
            {{ truncate_timestamp('hour', 'observations.created_at') }} as hour_ts
        from {{ ref('int_status_observations') }} as observations
        inner join changed_posts
            on
                observations.instance_id = changed_posts.instance_id
                and observations.status_id = changed_posts.post_id
        where observations.created_at is not null
        union
        select
            all_posts.instance_id,
            {{ truncate_timestamp('hour', 'all_posts.created_at') }} as hour_ts
        from {{ ref('stg_enrichment__post_sentiments') }} as written
        inner join {{ ref('posts') }} as all_posts
            on
                written.instance_id = all_posts.instance_id
                and written.post_id = all_posts.post_id
        where written.written_at > {{ hours_before(last_refreshed_at(), var('incremental_lookback_hours')) }}
    ),

    touched_posts as (
        select posts.*
        from posts
        inner join touched_hours
            on
                posts.instance_id = touched_hours.instance_id
                and {{ truncate_timestamp('hour', 'posts.created_at') }} = touched_hours.hour_ts
        where posts.created_at >= (select min(earliest.hour_ts) from touched_hours as earliest)
    ),
{% endif %}

sentiments as (
    select
        sentiments.instance_id,
        sentiments.post_id,
        sentiments.sentiment_score,
        row_number() over (
            partition by sentiments.instance_id, sentiments.post_id
            order by sentiments.status_version_seq desc, sentiments.analyzed_at desc
        ) as newest_first
    from {{ ref('stg_enrichment__post_sentiments') }} as sentiments
    {% if is_incremental() %}
        where
            sentiments.sentiment_score is not null
            and exists (
                select 1 from touched_posts
                where sentiments.instance_id = touched_posts.instance_id and sentiments.post_id = touched_posts.post_id
            )
    {% else %}
        where sentiments.sentiment_score is not null
    {% endif %}
),

per_hour as (
    select
        counted.instance_id,
        {{ truncate_timestamp('hour', 'counted.created_at') }} as hour_ts,
        count(*) filter (where not counted.is_reblog) as posts,
        count(*) filter (where counted.is_reblog) as boosts_made,
        coalesce(sum(counted.reblogs_count) filter (where not counted.is_reblog), 0) as boosts_received,
        coalesce(sum(counted.replies_count) filter (where not counted.is_reblog), 0) as replies_received,
        coalesce(sum(counted.favourites_count) filter (where not counted.is_reblog), 0) as favourites_received,
        coalesce(sum(counted.engagement_score) filter (where not counted.is_reblog), 0) as total_engagement,
        -- in numeric, exact: a float sum depends on the order the rows arrive in (the plan), and the mart must
        -- not change in its last digit between two runs over the same data
        avg(cast(sentiments.sentiment_score as numeric)) filter (where not counted.is_reblog) as avg_sentiment,
        count(sentiments.sentiment_score) filter (where not counted.is_reblog) as posts_with_sentiment
    from {{ 'touched_posts' if is_incremental() else 'posts' }} as counted
    left join sentiments
        on
            counted.instance_id = sentiments.instance_id
            and counted.post_id = sentiments.post_id
            and sentiments.newest_first = 1
    group by counted.instance_id, {{ truncate_timestamp('hour', 'counted.created_at') }}
),

{% if is_incremental() %}
    -- the hours with posts after this run: those recomputed now, and the unchanged ones of the table
    active_hours as (
        select
            per_hour.instance_id,
            per_hour.hour_ts
        from per_hour
        union all
        select
            kept.instance_id,
            kept.hour_ts
        from {{ this }} as kept
        where
            (kept.posts > 0 or kept.boosts_made > 0)
            and not exists (
                select 1 from touched_hours
                where kept.instance_id = touched_hours.instance_id and kept.hour_ts = touched_hours.hour_ts
            )
    ),

    bounds as (
        select
            instance_id,
            min(hour_ts) as first_hour,
            (select max(newest.hour_ts) from active_hours as newest) as last_hour
        from active_hours
        group by instance_id
    ),

    -- the recomputed hours (zeros when they lost every post; the post-hook deletes those outside the range),
    -- and the hours of the range the table does not have yet
    hours as (
        select
            touched_hours.instance_id,
            touched_hours.hour_ts
        from touched_hours
        union
        select
            bounds.instance_id,
            series.hour_ts
        from bounds
        cross join lateral generate_series(bounds.first_hour, bounds.last_hour, interval '1 hour') as series (hour_ts)
        where
            not exists (
                select 1 from {{ this }} as kept
                where bounds.instance_id = kept.instance_id and series.hour_ts = kept.hour_ts
            )
    ),
{% else %}
    bounds as (
        select
            posts.instance_id,
            min({{ truncate_timestamp('hour', 'posts.created_at') }}) as first_hour,
            (select max({{ truncate_timestamp('hour', 'newest.created_at') }}) from posts as newest) as last_hour
        from posts
        group by posts.instance_id
    ),

    hours as (
        select
            bounds.instance_id,
            series.hour_ts
        from bounds
        cross join lateral generate_series(bounds.first_hour, bounds.last_hour, interval '1 hour') as series (hour_ts)
    ),
{% endif %}

final as (
    select
        hours.instance_id,
        hours.hour_ts,
        cast(coalesce(per_hour.posts, 0) as bigint) as posts,
        cast(coalesce(per_hour.boosts_made, 0) as bigint) as boosts_made,
        cast(coalesce(per_hour.boosts_received, 0) as bigint) as boosts_received,
        cast(coalesce(per_hour.replies_received, 0) as bigint) as replies_received,
        cast(coalesce(per_hour.favourites_received, 0) as bigint) as favourites_received,
        cast(coalesce(per_hour.total_engagement, 0) as double precision) as total_engagement,
        cast(
            case when per_hour.posts > 0 then per_hour.total_engagement / per_hour.posts else 0 end
            as double precision
        ) as avg_engagement,
        cast(per_hour.avg_sentiment as double precision) as avg_sentiment,
        cast(coalesce(per_hour.posts_with_sentiment, 0) as bigint) as posts_with_sentiment,
        {{ run_started_timestamptz() }} as refreshed_at
    from hours
    left join per_hour
        on
            hours.instance_id = per_hour.instance_id
            and hours.hour_ts = per_hour.hour_ts
)

select * from final
