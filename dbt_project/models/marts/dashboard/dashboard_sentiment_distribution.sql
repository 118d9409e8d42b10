{#-
  The Overview's sentiment pie: per instance and time window ('recent' = the 48 hours before as_of, the
  newest post in the warehouse; 'all' = every post), how many posts' current versions are positive,
  neutral or negative (scored results only; deleted posts and boosts excluded). Every label has a row, with
  zero when no post has it.
-#}
{%- set recent_hours = var('dashboard_recent_hours', 48) | int -%}
with

instances as (
    select * from {{ ref('instances') }}
),

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null and not is_reblog
),

sentiments as (
    select * from {{ ref('post_sentiments') }}
    where is_current_version and sentiment_status = 'scored'
),

reference_time as (
    select max(created_at) as as_of from {{ ref('posts') }}
),

labels as (
    select label_values.sentiment_label
    from (values ('positive'), ('neutral'), ('negative')) as label_values (sentiment_label)
),

time_windows as (
    select window_values.time_window
    from (values ('recent'), ('all')) as window_values (time_window)
),

scored_posts as (
    select
        posts.instance_id,
        sentiments.sentiment_label,
        posts.created_at > {{ hours_before('reference_time.as_of', recent_hours) }} as is_recent
    from posts
    inner join sentiments
        on
            posts.instance_id = sentiments.instance_id
            and posts.post_id = sentiments.post_id
    cross join reference_time
),

counted as (
    select
        instances.instance_id,
        time_windows.time_window,
        labels.sentiment_label,
        count(scored_posts.instance_id) as post_count
    from instances
    cross join time_windows
    cross join labels
    left join scored_posts
        on
            instances.instance_id = scored_posts.instance_id
            and labels.sentiment_label = scored_posts.sentiment_label
            and (time_windows.time_window = 'all' or scored_posts.is_recent)
    group by instances.instance_id, time_windows.time_window, labels.sentiment_label
),

final as (
    select
        {{ hash_key(['counted.instance_id', 'counted.time_window', 'counted.sentiment_label']) }}
            as sentiment_distribution_id,
        counted.instance_id,
        counted.time_window,
        counted.sentiment_label,
        counted.post_count,
        cast(
            counted.post_count / nullif(
                sum(counted.post_count) over (partition by counted.instance_id, counted.time_window), 0
            ) as double precision
        ) as share_of_posts,
        reference_time.as_of
    from counted
    cross join reference_time
)

select * from final
