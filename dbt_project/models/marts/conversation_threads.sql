{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'root_post_id'],
        incremental_strategy='delete+insert',
        pre_hook="{{ forkalytics.delete_touched_keys(['instance_id', 'root_post_id'],
            forkalytics.conversation_threads_touched_roots()) }}",
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'root_post_id']) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per conversation with at least one observed reply: the root post (the top of the reply chain;
  when the chain leads to a post never observed, that post's id with root_is_observed = false), the
  depth of the deepest reply, and reply counts. reply_count excludes deleted replies
  (deleted_reply_count has them). Boosts are not part of threads.

  Incremental: the threads touched by the posts refreshed since the last run (macros/touched_keys.sql: the
  root of each one's reply chain, and each one as the former unobserved root of replies that arrived before
  it) are rebuilt from their roots down (the posts (instance_id, in_reply_to_id) index); the pre-hook
  deletes them first, so a thread whose root turned out to be a reply is gone. A touched root without replies
  (most new posts) is no thread and is not walked. The walks read posts through laterals: the planner cannot
  estimate a recursive walk, and joined it to a hash of every post.
-#}
with recursive

{% if is_incremental() %}
    touched_roots as (
        {{ conversation_threads_touched_roots() }}
    ),
{% endif %}

-- incremental: not materialized, so it is read by key where it is joined, not copied whole
thread_posts as {% if is_incremental() %}not materialized{% endif %} (
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
    where
        thread_posts.in_reply_to_id is null
        {% if is_incremental() %} -- noqa: LT02
            and (thread_posts.instance_id, thread_posts.post_id) in (
                select
                    touched_roots.instance_id,
                    touched_roots.root_post_id
                from touched_roots
            )
            -- a root without replies is no thread (the final filter drops it): it is not walked
            and exists (
                select 1
                from thread_posts as replies
                where
                    replies.instance_id = thread_posts.instance_id
                    and replies.in_reply_to_id = thread_posts.post_id
            )
        {% endif %} -- noqa: LT02
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
        {% if is_incremental() %}
            and (orphans.instance_id, orphans.in_reply_to_id) in (
                select
                    touched_roots.instance_id,
                    touched_roots.root_post_id
                from touched_roots
            )
        {% endif %}
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
    {% if is_incremental() %}
        -- the replies by the (instance_id, in_reply_to_id) index (offset 0: not flattened into a join, which
        -- the planner, unable to estimate the walk, made a hash join of every post)
        cross join lateral (
            select thread_posts.post_id
            from thread_posts
            where
                thread_posts.instance_id = tree.instance_id
                and thread_posts.in_reply_to_id = tree.post_id
            offset 0 -- noqa: AM09
        ) as children
    {% else %}
        inner join thread_posts as children
            on
                tree.instance_id = children.instance_id
                and tree.post_id = children.in_reply_to_id
    {% endif %}
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
    {% if is_incremental() %}
        -- each member by the (instance_id, post_id) index
        cross join lateral (
            select
                thread_posts.account_id,
                thread_posts.created_at,
                thread_posts.deleted_at
            from thread_posts
            where
                thread_posts.instance_id = tree.instance_id
                and thread_posts.post_id = tree.post_id
            offset 0 -- noqa: AM09
        ) as thread_posts
    {% else %}
        inner join thread_posts
            on
                tree.instance_id = thread_posts.instance_id
                and tree.post_id = thread_posts.post_id
    {% endif %}
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
        max(case when depth > 0 then created_at end) as last_reply_at,
        {{ run_started_timestamptz() }} as refreshed_at
    from thread_members
    group by instance_id, root_post_id
    having count(case when depth > 0 then 1 end) > 0
)

select * from final
