{#-
  The Posts panel: per instance, the 50 most engaging posts of the 24 hours before as_of (the newest post in
  the warehouse), with their author, text, hashtags, counts and sentiment. Deleted posts and boosts are left
  out; ties are broken by the newer post first, then the post id.

  Per instance (found by a loose index scan of posts), the top posts are read in that order through the
  posts index on (instance_id, engagement_score desc, created_at desc, post_id) until dashboard_popular_limit
  of them are in the window: a few hundred rows, not every post of the 24 hours sorted.
-#}
{%- set popular_hours = var('dashboard_popular_hours', 24) | int -%}
{%- set popular_limit = var('dashboard_popular_limit', 50) | int -%}
with

accounts as (
    select * from {{ ref('accounts') }}
),

sentiments as (
    select * from {{ ref('post_sentiments') }}
    where is_current_version
),

reference_time as (
    select max(created_at) as as_of from {{ ref('posts') }}
),

-- the instances that have posts: one probe of the (instance_id, post_id) index each
post_instances as (
    {{ distinct_by_index(ref('posts'), ['instance_id']) }}
),

top_posts as (
    select
        popular.*,
        reference_time.as_of
    from post_instances
    cross join reference_time
    cross join lateral (
        select posts.*
        from {{ ref('posts') }} as posts
        where
            posts.instance_id = post_instances.instance_id
            and posts.deleted_at is null
            and not posts.is_reblog
            and posts.created_at > {{ hours_before('reference_time.as_of', popular_hours) }}
        order by posts.engagement_score desc, posts.created_at desc, posts.post_id asc
        limit {{ popular_limit }}
    ) as popular
),

ranked as (
    select
        top_posts.*,
        row_number() over (
            partition by top_posts.instance_id
            order by top_posts.engagement_score desc, top_posts.created_at desc, top_posts.post_id asc
        ) as popularity_rank
    from top_posts
),

final as (
    select
        ranked.instance_id,
        ranked.post_id,
        cast(ranked.popularity_rank as integer) as popularity_rank,
        ranked.created_at,
        case when accounts.consent_status = 'opted_out' then null else ranked.url end as url,
        case when accounts.consent_status = 'opted_out' then null else ranked.content_text end as content_text,
        ranked.language,
        ranked.hashtags,
        ranked.replies_count,
        ranked.reblogs_count,
        ranked.favourites_count,
        ranked.engagement_score,
        ranked.account_id,
        case when accounts.consent_status = 'opted_out' then null else accounts.acct end as author_acct,
        case when accounts.consent_status = 'opted_out' then null else accounts.display_name end
            as author_display_name,
        case when accounts.consent_status = 'opted_out' then null else accounts.avatar_url end
            as author_avatar_url,
        accounts.is_bot as author_is_bot,
        sentiments.sentiment_status,
        sentiments.sentiment_label,
        sentiments.sentiment_score,
        ranked.as_of
    from ranked
    left join accounts
        on
            ranked.instance_id = accounts.instance_id
            and ranked.account_id = accounts.account_id
    left join sentiments
        on
            ranked.instance_id = sentiments.instance_id
            and ranked.post_id = sentiments.post_id
    where ranked.popularity_rank <= {{ popular_limit }}
)

select * from final
