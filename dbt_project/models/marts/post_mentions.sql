{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        pre_hook="{{ forkalytics.delete_touched_keys(['instance_id', 'post_id'], forkalytics.touched_posts_of_versions()) }}",
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'post_id']) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per account mentioned by a post's current version. A mention of an account never seen as an
  author is kept (the previous system dropped the whole post); accounts lists it with
  is_profile_observed = false. Rows of deleted posts are kept.

  Incremental: the posts whose versions were refreshed since the last run get the mentions of their
  current version; the pre-hook deletes their rows first (an edit can drop a post's last mention).
-#}
with

{% if is_incremental() %}
    touched_posts as (
        {{ touched_posts_of_versions() }}
    ),
{% endif %}

mention_rows as (
    select
        versions.instance_id,
        versions.post_id,
        {{ json_get_text('mention.value', ['id']) }} as mentioned_account_id,
        {{ json_get_text('mention.value', ['acct']) }} as acct,
        {{ json_get_text('mention.value', ['username']) }} as username,
        {{ json_get_text('mention.value', ['url']) }} as url,
        mention.ordinal
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        inner join touched_posts
            on
                versions.instance_id = touched_posts.instance_id
                and versions.post_id = touched_posts.post_id
    {% endif %}
    {{ json_array_rows('versions.mentions', 'mention') }}
    where versions.is_current
),

ranked as (
    select
        mention_rows.*,
        row_number() over (
            partition by mention_rows.instance_id, mention_rows.post_id, mention_rows.mentioned_account_id
            order by mention_rows.ordinal
        ) as mention_rank
    from mention_rows
),

final as (
    select
        instance_id,
        post_id,
        mentioned_account_id,
        acct,
        username,
        url,
        position('@' in coalesce(acct, '')) = 0 as is_local_account,
        cast(ordinal as integer) as position,
        {{ run_started_timestamptz() }} as refreshed_at
    from ranked
    where mention_rank = 1
)

select * from final
