{#-
  The Trends panel over longer ranges: hourly_stats rolled up to UTC days per instance (posts, the
  engagement they received, average engagement, and the average sentiment weighted by the posts that have
  one). The hourly series itself is hourly_stats.
-#}
with

hourly as (
    select * from {{ ref('hourly_stats') }}
),

daily as (
    select
        instance_id,
        cast({{ truncate_timestamp('day', 'hour_ts') }} as date) as stats_date,
        sum(posts) as posts,
        sum(boosts_made) as boosts_made,
        sum(boosts_received) as boosts_received,
        sum(replies_received) as replies_received,
        sum(favourites_received) as favourites_received,
        sum(total_engagement) as total_engagement,
        sum(avg_sentiment * posts_with_sentiment) as sentiment_sum,
        sum(posts_with_sentiment) as posts_with_sentiment
    from hourly
    group by instance_id, cast({{ truncate_timestamp('day', 'hour_ts') }} as date)
),

final as (
    select
        instance_id,
        stats_date,
        cast(posts as bigint) as posts,
        cast(boosts_made as bigint) as boosts_made,
        cast(boosts_received as bigint) as boosts_received,
        cast(replies_received as bigint) as replies_received,
        cast(favourites_received as bigint) as favourites_received,
        cast(total_engagement as double precision) as total_engagement,
        cast(coalesce(total_engagement / nullif(posts, 0), 0) as double precision) as avg_engagement,
        cast(sentiment_sum / nullif(posts_with_sentiment, 0) as double precision) as avg_sentiment,
        cast(posts_with_sentiment as bigint) as posts_with_sentiment
    from daily
)

select * from final
