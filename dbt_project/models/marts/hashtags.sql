{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'name'],
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'name']) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per hashtag per instance (normalized name: lower case, without '#'), from every version of every
  post. `post_count` counts posts whose current version uses the tag, deleted posts excluded.

  Incremental: the tags of every version of the posts whose versions were refreshed since the last run
  (a post's every version is, so the tags its edit or delete stopped counting are among them) are
  recomputed from every version using them (the GIN index on int_post_versions.hashtags). A post's versions
  are never removed, so a tag never loses all of its rows.
-#}
with

{% if is_incremental() %}
    touched_tags as (
        select distinct
            versions.instance_id,
            {{ json_scalar_text('tag.value') }} as name
        from {{ ref('int_post_versions') }} as versions
        {{ json_array_rows('versions.hashtags', 'tag') }}
        where versions.refreshed_at > {{ last_refreshed_at() }}
    ),
{% endif %}

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
    {% if is_incremental() %}
        inner join touched_tags
            on
                versions.instance_id = touched_tags.instance_id
                and {{ json_array_has_text('versions.hashtags', 'touched_tags.name') }}
    {% endif %}
    {{ json_array_rows('versions.hashtags', 'tag') }}
    {% if is_incremental() %}
        where {{ json_scalar_text('tag.value') }} = touched_tags.name
    {% endif %}
),

final as (
    select
        {{ hash_key(['instance_id', 'name']) }} as hashtag_id,
        instance_id,
        name,
        min(first_observed_at) as first_seen_at,
        max(last_observed_at) as last_seen_at,
        count(distinct case when is_current and deleted_at is null then post_id end) as post_count,
        {{ run_started_timestamptz() }} as refreshed_at
    from tag_uses
    group by instance_id, name
)

select * from final
