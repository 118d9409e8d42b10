{#-
  One row per conversation with at least one observed reply: the root post (the top of the reply chain;
  when the chain leads to a post never observed, that post's id with root_is_observed = false), the
  depth of the deepest reply, and reply counts. reply_count excludes deleted replies
  (deleted_reply_count has them). Boosts are not part of threads.
-#}
with recursive

thread_posts as (
    select
        post_id,
        instance_id,
        in_reply_to_id,
        account_id,
        created_at,
        deleted_at
    from {{ ref('posts') }}
    where not is_reblog
),

roots as (
    select
        thread_posts.instance_id,
        thread_posts.post_id as root_post_id,
        thread_posts.post_id,
        0 as depth,
        true as root_is_observed
    from thread_posts
    where thread_posts.in_reply_to_id is null
    union all
    select
        orphans.instance_id,
        orphans.in_reply_to_id as root_post_id,
        orphans.post_id,
        1 as depth,
        false as root_is_observed
    from thread_posts as orphans
    where
        orphans.in_reply_to_id is not null
        and not exists (
            select 1
            from thread_posts as parents
            where
                parents.instance_id = orphans.instance_id
                and parents.post_id = orphans.in_reply_to_id
        )
),

tree as (
    select
        roots.instance_id,
        roots.root_post_id,
        roots.post_id,
        roots.depth,
        roots.root_is_observed
    from roots
    union all
    select
        tree.instance_id,
        tree.root_post_id,
        children.post_id,
        tree.depth + 1 as depth,
        tree.root_is_observed
    from tree
    inner join thread_posts as children
        on
            tree.instance_id = children.instance_id
            and tree.post_id = children.in_reply_to_id
    where tree.depth < 1000
),

thread_members as (
    select
        tree.instance_id,
        tree.root_post_id,
        tree.root_is_observed,
        tree.depth,
        thread_posts.account_id,
        thread_posts.created_at,
        thread_posts.deleted_at
    from tree
    inner join thread_posts
        on
            tree.instance_id = thread_posts.instance_id
            and tree.post_id = thread_posts.post_id
),

final as (
    select
        {{ hash_key(['instance_id', 'root_post_id']) }} as thread_id,
        root_post_id,
        instance_id,
        bool_and(root_is_observed) as root_is_observed,
        cast(max(depth) as integer) as depth,
        cast(count(case when depth > 0 and deleted_at is null then 1 end) as integer) as reply_count,
        cast(count(case when depth > 0 and deleted_at is not null then 1 end) as integer) as deleted_reply_count,
        cast(count(distinct account_id) as integer) as participant_count,
        min(case when depth > 0 then created_at end) as first_reply_at,
        max(case when depth > 0 then created_at end) as last_reply_at
    from thread_members
    group by instance_id, root_post_id
    having count(case when depth > 0 then 1 end) > 0
)

select * from final
