{#-
  The dashboard's hourly series per instance: every UTC hour from the instance's first post to the newest
  post of the warehouse is a row (quiet hours are zeros). Per hour of creation: posts (not boosts, not
  deleted), boosts made, boosts and replies those posts received (their current counts), total and average
  engagement score, and the average sentiment of the posts that have one (enrichment; null until then).
-#}
with

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null
),

sentiments as (
    select
        instance_id,
        post_id,
        sentiment_score,
        row_number() over (
            partition by instance_id, post_id order by status_version_seq desc, analyzed_at desc
        ) as newest_first
    from {{ ref('stg_enrichment__post_sentiments') }}
    where sentiment_score is not null
),

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

per_hour as (
    select
        posts.instance_id,
        {{ truncate_timestamp('hour', 'posts.created_at') }} as hour_ts,
        count(*) filter (where not posts.is_reblog) as posts,
        count(*) filter (where posts.is_reblog) as boosts_made,
        coalesce(sum(posts.reblogs_count) filter (where not posts.is_reblog), 0) as boosts_received,
        coalesce(sum(posts.replies_count) filter (where not posts.is_reblog), 0) as replies_received,
        coalesce(sum(posts.favourites_count) filter (where not posts.is_reblog), 0) as favourites_received,
        coalesce(sum(posts.engagement_score) filter (where not posts.is_reblog), 0) as total_engagement,
        avg(sentiments.sentiment_score) filter (where not posts.is_reblog) as avg_sentiment,
        count(sentiments.sentiment_score) filter (where not posts.is_reblog) as posts_with_sentiment
    from posts
    left join sentiments
        on
            posts.instance_id = sentiments.instance_id
            and posts.post_id = sentiments.post_id
            and sentiments.newest_first = 1
    group by posts.instance_id, {{ truncate_timestamp('hour', 'posts.created_at') }}
),

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
        cast(coalesce(per_hour.posts_with_sentiment, 0) as bigint) as posts_with_sentiment
    from hours
    left join per_hour
        on
            hours.instance_id = per_hour.instance_id
            and hours.hour_ts = per_hour.hour_ts
)

select * from final
