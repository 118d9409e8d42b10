{#-
  The seed's scheduled aggregate: posts and engagement per instance, author domain (the account's home
  server) and UTC hour of creation. Boosts and deleted posts are left out; only hours with posts are rows.
-#}
with

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null and not is_reblog
),

accounts as (
    select * from {{ ref('accounts') }}
),

final as (
    select
        posts.instance_id,
        coalesce(accounts.domain, posts.instance_id) as domain,
        {{ truncate_timestamp('hour', 'posts.created_at') }} as hour_ts,
        cast(count(*) as bigint) as posts,
        cast(count(distinct posts.account_id) as bigint) as distinct_accounts,
        cast(coalesce(sum(posts.reblogs_count), 0) as bigint) as boosts_received,
        cast(coalesce(sum(posts.replies_count), 0) as bigint) as replies_received,
        cast(coalesce(sum(posts.favourites_count), 0) as bigint) as favourites_received,
        cast(coalesce(sum(posts.engagement_score), 0) as double precision) as total_engagement,
        cast(avg(posts.engagement_score) as double precision) as avg_engagement
    from posts
    left join accounts
        on
            posts.instance_id = accounts.instance_id
            and posts.account_id = accounts.account_id
    group by
        posts.instance_id,
        coalesce(accounts.domain, posts.instance_id),
        {{ truncate_timestamp('hour', 'posts.created_at') }}
)

select * from final
