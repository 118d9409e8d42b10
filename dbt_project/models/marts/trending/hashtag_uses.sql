{#-
  One row per use of a hashtag, the input of hashtag_hourly_stats and the trending marts, in two scopes:
  `scope_id` = the instance (one row per post of the instance using the tag), and `scope_id` = 'fediverse'
  (posts seen by several monitored instances counted once, on their uri; the account is identified by its
  uri). Uses are the tags of the post's current version; boosts and deleted posts are left out.
-#}
with

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null and not is_reblog
),

post_hashtags as (
    select * from {{ ref('post_hashtags') }}
),

accounts as (
    select * from {{ ref('accounts') }}
),

instance_uses as (
    select
        posts.instance_id as scope_id,
        posts.instance_id,
        post_hashtags.hashtag_name,
        posts.post_id as post_key,
        posts.post_id,
        posts.uri,
        posts.account_id as account_key,
        coalesce(accounts.domain, posts.instance_id) as account_domain,
        posts.created_at,
        posts.visibility = 'public' as is_public,
        coalesce(accounts.is_bot, false) as is_bot,
        posts.engagement_score,
        coalesce(accounts.uri, accounts.acct || '@' || accounts.domain, posts.instance_id || ':' || posts.account_id)
            as account_global_key,
        greatest(posts.last_seen_at, posts.metrics_observed_at) as changed_at
    from post_hashtags
    inner join posts
        on
            post_hashtags.instance_id = posts.instance_id
            and post_hashtags.post_id = posts.post_id
    left join accounts
        on
            posts.instance_id = accounts.instance_id
            and posts.account_id = accounts.account_id
),

fediverse_ranked as (
    select
        instance_uses.*,
        row_number() over (
            partition by
                coalesce(instance_uses.uri, instance_uses.instance_id || ':' || instance_uses.post_id),
                instance_uses.hashtag_name
            order by instance_uses.engagement_score desc, instance_uses.instance_id asc
        ) as copy_rank
    from instance_uses
),

final as (
    select
        scope_id,
        instance_id,
        hashtag_name,
        post_key,
        post_id,
        account_key,
        account_domain,
        created_at,
        is_public,
        is_bot,
        cast(engagement_score as double precision) as engagement_score,
        changed_at
    from instance_uses
    union all
    select
        'fediverse' as scope_id,
        instance_id,
        hashtag_name,
        coalesce(uri, instance_id || ':' || post_id) as post_key,
        post_id,
        account_global_key as account_key,
        account_domain,
        created_at,
        is_public,
        is_bot,
        cast(engagement_score as double precision) as engagement_score,
        changed_at
    from fediverse_ranked
    where copy_rank = 1
)

select * from final
