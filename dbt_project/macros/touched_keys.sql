{#-
  The keys an incremental mart recomputes in a run, for the marts where a key can lose all of its rows
  (an account whose every observed post is deleted, a thread whose root gets a parent, a post whose edit
  drops its last hashtag): delete+insert replaces only the keys the new rows have, so the model's pre-hook
  `delete_touched_keys` first deletes every touched key, and the model inserts what the keys hold now.
  One macro per mart, used by the model (to select what to recompute) and by its pre-hook; both read the
  same watermark (last_refreshed_at: the pre-hook runs before anything is written).
-#}
{% macro delete_touched_keys(key_columns, touched_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as kept
        where ({% for column in key_columns %}kept.{{ column }}{{ ', ' if not loop.last }}{% endfor %}) in (
            select {{ key_columns | join(', ') }} from ({{ touched_sql }}) as touched
        )
    {%- endif -%}
{%- endmacro %}

{#-
  account_history: the accounts recomputed by marts.accounts since the last run (authors of refreshed
  observations, accounts whose consent changed: an opt-out blanks the profile upstream without refreshing
  it), the authors of refreshed observations, and the authors of posts whose delete was refreshed (their
  observations leave the history).
-#}
{% macro account_history_touched_accounts() -%}
    select
        accounts.instance_id,
        accounts.account_id
    from {{ ref('accounts') }} as accounts
    where accounts.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        observations.instance_id,
        observations.account_id
    from {{ ref('int_status_observations') }} as observations
    where observations.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        observations.instance_id,
        observations.account_id
    from {{ ref('int_status_deletes') }} as deletes
    inner join {{ ref('int_status_observations') }} as observations
        on
            deletes.instance_id = observations.instance_id
            and deletes.status_id = observations.status_id
    where deletes.refreshed_at > {{ forkalytics.last_refreshed_at() }}
{%- endmacro %}

{#-
  conversation_threads: the threads of the posts refreshed in marts.posts since the last run (the root found
  by walking up their reply chain, by the posts (instance_id, post_id) index) and the refreshed posts
  themselves as roots: a post that arrives after its replies was the unobserved root of their thread, which
  now joins the thread above it (or becomes its observed root). A post's parent (in_reply_to_id) and whether
  it is a boost never change once observed (Mastodon cannot edit them), so a post changes threads only when
  it or an ancestor first arrives, which the walk covers.
-#}
{% macro conversation_threads_touched_roots() -%}
    with recursive
    changed_posts as (
        select
            posts.instance_id,
            posts.post_id,
            posts.in_reply_to_id,
            posts.is_reblog
        from {{ ref('posts') }} as posts
        where posts.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    ),

    -- each changed post and its observed ancestors (union: a reply cycle ends the walk)
    chain as (
        select
            changed_posts.instance_id,
            changed_posts.post_id,
            changed_posts.in_reply_to_id
        from changed_posts
        where not changed_posts.is_reblog
        union
        select
            parents.instance_id,
            parents.post_id,
            parents.in_reply_to_id
        from chain
        -- a lateral read by the (instance_id, post_id) index: the planner, which cannot estimate the walk,
        -- hash-joined every post to it (offset 0 keeps it from being flattened into that join)
        cross join lateral (
            select
                posts.instance_id,
                posts.post_id,
                posts.in_reply_to_id
            from {{ ref('posts') }} as posts
            where
                posts.instance_id = chain.instance_id
                and posts.post_id = chain.in_reply_to_id
                and not posts.is_reblog
            offset 0
        ) as parents
    )

    select
        chain.instance_id,
        coalesce(chain.in_reply_to_id, chain.post_id) as root_post_id
    from chain
    left join lateral (
        select true as is_observed
        from {{ ref('posts') }} as parents
        where
            chain.in_reply_to_id is not null
            and parents.instance_id = chain.instance_id
            and parents.post_id = chain.in_reply_to_id
            and not parents.is_reblog
        limit 1
    ) as parent on true
    where
        chain.in_reply_to_id is null
        or parent.is_observed is null
    union
    select
        changed_posts.instance_id,
        changed_posts.post_id as root_post_id
    from changed_posts
{%- endmacro %}

{#- post_hashtags, post_mentions: the posts whose versions were refreshed (a post's every version is). -#}
{% macro touched_posts_of_versions() -%}
    select distinct
        versions.instance_id,
        versions.post_id
    from {{ ref('int_post_versions') }} as versions
    where versions.refreshed_at > {{ forkalytics.last_refreshed_at() }}
{%- endmacro %}

{#-
  media_attachments: the media of the current version of every post whose versions were refreshed, and
  the media this mart holds for those posts (an edit can drop an attachment, or leave it to another post).
-#}
{% macro media_attachments_touched_media() -%}
    select
        versions.instance_id,
        {{ forkalytics.json_get_text('media.value', ['id']) }} as media_id
    from {{ ref('int_post_versions') }} as versions
    {{ forkalytics.json_array_rows('versions.media_attachments', 'media') }}
    where
        versions.refreshed_at > {{ forkalytics.last_refreshed_at() }}
        and versions.is_current
        and {{ forkalytics.json_get_text('media.value', ['id']) }} is not null
    union
    select
        kept.instance_id,
        kept.media_id
    from {{ this }} as kept
    where (kept.instance_id, kept.post_id) in ({{ forkalytics.touched_posts_of_versions() }})
{%- endmacro %}

{#-
  The posts whose versions, delete or observations were refreshed since this model's last run (instance_id,
  post_id), as a query: what the marts that aggregate posts (hourly stats, hashtag uses) recompute.
-#}
{% macro changed_posts() -%}
    select
        versions.instance_id,
        versions.post_id
    from {{ ref('int_post_versions') }} as versions
    where versions.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        deletes.instance_id,
        deletes.status_id as post_id
    from {{ ref('int_status_deletes') }} as deletes
    where deletes.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        observations.instance_id,
        observations.status_id as post_id
    from {{ ref('int_status_observations') }} as observations
    where observations.refreshed_at > {{ forkalytics.last_refreshed_at() }}
{%- endmacro %}

{#-
  hashtag_hourly_stats: the (scope, hashtag, hour) keys whose uses changed since the last run: those of the
  hashtag_uses rows refreshed since (new or changed uses), and every key of the creation hours of the posts
  refreshed in marts.posts since then and of every copy of their uris (hashtag_uses replaced or removed their
  uses, and a removed use leaves no row to find it by: its hour is recomputed for every tag).
-#}
{% macro hashtag_hourly_stats_changed_keys(kept=none) -%}
    {#- kept: the rows kept, as a query (default this model's table; the model passes the hours its pre-hook
        moved too) -#}
    with
    changed_posts as (
        select
            posts.created_at,
            posts.uri
        from {{ ref('posts') }} as posts
        where posts.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    ),

    removal_hours as (
        select {{ forkalytics.truncate_timestamp('hour', 'changed_posts.created_at') }} as hour_ts
        from changed_posts
        union
        select {{ forkalytics.truncate_timestamp('hour', 'copies.created_at') }} as hour_ts
        from {{ ref('posts') }} as copies
        where copies.uri = any(array(select changed_posts.uri from changed_posts))
    )

    select
        uses.scope_id,
        uses.hashtag_name,
        {{ forkalytics.truncate_timestamp('hour', 'uses.created_at') }} as hour_ts
    from {{ ref('hashtag_uses') }} as uses
    where uses.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        kept_tags.instance_id as scope_id,
        kept_tags.hashtag_name,
        removal_hours.hour_ts
    from (select distinct kept.instance_id, kept.hashtag_name from {{ kept or this }} as kept) as kept_tags
    cross join removal_hours
{%- endmacro %}

{#-
  hashtag_hourly_stats' pre-hook. The first hour to rewrite: the earliest changed key's hour, and at most the
  newest hour kept (the newest post's hour moves on: the zero rows of the hours after it), kept for the
  model in a temporary table, as are the rows of the hours from there (the counts of the hours whose uses did
  not change are taken from them), until the transaction ends; then those hours go (an hour can lose every
  row). Without a watermark (rows from before refreshed_at) every hour is rebuilt.
-#}
{% macro hashtag_hourly_stats_delete_recomputed() -%}
    {%- if is_incremental() and 'infinity' in forkalytics.last_refreshed_at() -%}
        delete from {{ this }}
    {%- elif is_incremental() -%}
        create temporary table {{ forkalytics.hashtag_hourly_stats_rewritten('from') }} on commit drop as
        select
            {{ forkalytics.truncate_timestamp('hour', 'least(
                (select max(kept.hour_ts) from ' ~ this ~ ' as kept),
                (select min(changed.hour_ts) from (' ~ forkalytics.hashtag_hourly_stats_changed_keys() ~ ') as changed)
            )') }} as from_hour;
        create temporary table {{ forkalytics.hashtag_hourly_stats_rewritten('hours') }} on commit drop as
        select kept.*
        from {{ this }} as kept
        where kept.hour_ts >= (select rewritten.from_hour from {{ forkalytics.hashtag_hourly_stats_rewritten('from') }} as rewritten);
        delete from {{ this }} as kept
        where kept.hour_ts >= (select rewritten.from_hour from {{ forkalytics.hashtag_hourly_stats_rewritten('from') }} as rewritten)
    {%- endif -%}
{%- endmacro %}

{#- The temporary tables of that pre-hook: 'from' (the first hour rewritten), 'hours' (the rows it moved). -#}
{% macro hashtag_hourly_stats_rewritten(part) -%}
    {{ this.identifier }}__rewritten_{{ part }}
{%- endmacro %}
