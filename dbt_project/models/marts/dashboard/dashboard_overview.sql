{#-
  The Overview panel's headline numbers, one row per instance: the instance banner (title, software
  version), tracked accounts (humans and bots), and the last 48 hours' active accounts, posts, boosts,
  average engagement and average sentiment. "The last 48 hours" ends at as_of, the newest post in the
  warehouse (not the wall clock), so a rebuild over the same data gives the same numbers.

  Only the posts of the recent window are read (their columns used here, through the index on
  posts.created_at); the all-time post count is the sum of hourly_stats, which counts the same posts (not
  deleted, not boosts) per hour, so the whole posts table is not read for it.
-#}
{%- set recent_hours = var('dashboard_recent_hours', 48) | int -%}
with

instances as (
    select * from {{ ref('instances') }}
),

accounts as (
    select * from {{ ref('accounts') }}
),

sentiments as (
    select * from {{ ref('post_sentiments') }}
    where is_current_version and sentiment_status = 'scored'
),

reference_time as (
    select max(all_posts.created_at) as as_of from {{ ref('posts') }} as all_posts
),

account_counts as (
    select
        instance_id,
        count(*) filter (where is_profile_observed) as tracked_accounts,
        count(*) filter (where is_profile_observed and not coalesce(is_bot, false)) as human_accounts,
        count(*) filter (where is_profile_observed and coalesce(is_bot, false)) as bot_accounts
    from accounts
    group by instance_id
),

recent_posts as (
    select
        posts.instance_id,
        posts.post_id,
        posts.account_id,
        posts.is_reblog,
        posts.engagement_score,
        sentiments.sentiment_score
    from {{ ref('posts') }} as posts
    left join sentiments
        on
            posts.instance_id = sentiments.instance_id
            and posts.post_id = sentiments.post_id
    where
        posts.deleted_at is null
        -- a scalar subquery: the bound is an index range condition
        and posts.created_at > {{ hours_before('(select reference_time.as_of from reference_time)', recent_hours) }}
),

-- distinct accounts by hashing the (instance, account) pairs, not count(distinct), which sorts every post
recent_accounts as (
    select
        active.instance_id,
        count(*) as active_accounts_recent
    from (
        select distinct
            recent_posts.instance_id,
            recent_posts.account_id
        from recent_posts
    ) as active
    group by active.instance_id
),

recent_activity as (
    select
        instance_id,
        count(*) filter (where not is_reblog) as posts_recent,
        count(*) filter (where is_reblog) as boosts_recent,
        -- averages in numeric: exact, whatever order the plan reads the rows in
        avg(cast(engagement_score as numeric)) filter (where not is_reblog) as avg_engagement_recent,
        avg(cast(sentiment_score as numeric)) filter (where not is_reblog) as avg_sentiment_recent
    from recent_posts
    group by instance_id
),

post_totals as (
    -- hourly_stats.posts: the posts created in the hour, not deleted, not boosts
    select
        hours.instance_id,
        cast(sum(hours.posts) as bigint) as posts_total
    from {{ ref('hourly_stats') }} as hours
    group by hours.instance_id
),

final as (
    select
        instances.instance_id,
        instances.base_url,
        instances.title,
        instances.software_version,
        reference_time.as_of,
        cast({{ recent_hours }} as integer) as recent_hours,
        coalesce(account_counts.tracked_accounts, 0) as tracked_accounts,
        coalesce(account_counts.human_accounts, 0) as human_accounts,
        coalesce(account_counts.bot_accounts, 0) as bot_accounts,
        coalesce(recent_accounts.active_accounts_recent, 0) as active_accounts_recent,
        coalesce(recent_activity.posts_recent, 0) as posts_recent,
        coalesce(recent_activity.boosts_recent, 0) as boosts_recent,
        cast(recent_activity.avg_engagement_recent as double precision) as avg_engagement_recent,
        cast(recent_activity.avg_sentiment_recent as double precision) as avg_sentiment_recent,
        coalesce(post_totals.posts_total, 0) as posts_total
    from instances
    cross join reference_time
    left join account_counts on instances.instance_id = account_counts.instance_id
    left join recent_activity on instances.instance_id = recent_activity.instance_id
    left join recent_accounts on instances.instance_id = recent_accounts.instance_id
    left join post_totals on instances.instance_id = post_totals.instance_id
)

select * from final
