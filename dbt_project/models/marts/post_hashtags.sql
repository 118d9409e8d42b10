{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        pre_hook="{{ forkalytics.delete_touched_keys(['instance_id', 'post_id'], forkalytics.touched_posts_of_versions()) }}",
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'post_id']) }}",
            "{{ forkalytics.lookup_index('tag', ['instance_id', 'hashtag_name', 'post_id']) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  Bridge between posts and hashtags: one row per hashtag used by a post's current version. Rows of
  deleted posts are kept (filter on posts.deleted_at to exclude them).

  Incremental: the posts whose versions were refreshed since the last run get the hashtags of their
  current version; the pre-hook deletes their rows first (an edit can drop a post's last hashtag). The
  (instance_id, hashtag_name, post_id) index serves hashtags, which counts each changed tag's posts here.
-#}
with

{% if is_incremental() %}
    touched_posts as (
        {{ touched_posts_of_versions() }}
    ),
{% endif %}

tag_uses as (
    select
        versions.instance_id,
        versions.post_id,
        {{ json_scalar_text('tag.value') }} as hashtag_name,
        tag.ordinal
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        inner join touched_posts
            on
                versions.instance_id = touched_posts.instance_id
                and versions.post_id = touched_posts.post_id
    {% endif %}
    {{ json_array_rows('versions.hashtags', 'tag') }}
    where versions.is_current
),

final as (
    select
        instance_id,
        post_id,
        {{ hash_key(['instance_id', 'hashtag_name']) }} as hashtag_id,
        hashtag_name,
        cast(ordinal as integer) as position,
        {{ run_started_timestamptz() }} as refreshed_at
    from tag_uses
)

select * from final
