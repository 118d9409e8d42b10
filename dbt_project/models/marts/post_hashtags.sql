{#-
  Bridge between posts and hashtags: one row per hashtag used by a post's current version. Rows of
  deleted posts are kept (filter on posts.deleted_at to exclude them).
-#}
with

tag_uses as (
    select
        versions.instance_id,
        versions.post_id,
        {{ json_scalar_text('tag.value') }} as hashtag_name,
        tag.ordinal
    from {{ ref('int_post_versions') }} as versions
    {{ json_array_rows('versions.hashtags', 'tag') }}
    where versions.is_current
),

final as (
    select
        instance_id,
        post_id,
        {{ hash_key(['instance_id', 'hashtag_name']) }} as hashtag_id,
        hashtag_name,
        cast(ordinal as integer) as position
    from tag_uses
)

select * from final
