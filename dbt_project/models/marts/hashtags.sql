{#-
  One row per hashtag per instance (normalized name: lower case, without '#'), from every version of every
  post. `post_count` counts posts whose current version uses the tag, deleted posts excluded.
-#}
with

tag_uses as (
    select
        versions.instance_id,
        versions.post_id,
        versions.is_current,
        versions.deleted_at,
        {{ json_scalar_text('tag.value') }} as name,
        versions.first_observed_at,
        versions.last_observed_at
    from {{ ref('int_post_versions') }} as versions
    {{ json_array_rows('versions.hashtags', 'tag') }}
),

final as (
    select
        {{ hash_key(['instance_id', 'name']) }} as hashtag_id,
        instance_id,
        name,
        min(first_observed_at) as first_seen_at,
        max(last_observed_at) as last_seen_at,
        count(distinct case when is_current and deleted_at is null then post_id end) as post_count
    from tag_uses
    group by instance_id, name
)

select * from final
