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
  (a post's every version is, so the tags its edit or delete stopped counting are among them) are updated
  from those versions alone: a post's versions are never removed, a version keeps its tags, and its first
  observation only gets earlier and its last later, so first_seen_at is the earlier of the stored one and
  theirs, last_seen_at the later (a tag never loses its row). post_count is counted anew for those tags
  from post_hashtags (the tags of every post's current version, one row per post and tag: a narrow
  index-only read, not the versions' JSON), leaving out the posts in int_status_deletes.
-#}
-- depends_on: {{ ref('post_hashtags') }}
-- depends_on: {{ ref('int_status_deletes') }}
with

{% if is_incremental() %}
    changed_tags as (
        select
            versions.instance_id,
            {{ json_scalar_text('tag.value') }} as name,
            min(versions.first_observed_at) as first_seen_at,
            max(versions.last_observed_at) as last_seen_at
        from {{ ref('int_post_versions') }} as versions
        {{ json_array_rows('versions.hashtags', 'tag') }}
        where versions.refreshed_at > {{ last_refreshed_at() }}
        group by versions.instance_id, {{ json_scalar_text('tag.value') }}
    ),

    post_counts as (
        select
            post_hashtags.instance_id,
            post_hashtags.hashtag_name as name,
            count(*) as post_count
        from {{ ref('post_hashtags') }} as post_hashtags
        where
            (post_hashtags.instance_id, post_hashtags.hashtag_name) in (
                select
                    changed_tags.instance_id,
                    changed_tags.name
                from changed_tags
            )
            and not exists (
                select 1
                from {{ ref('int_status_deletes') }} as deletes
                where
                    deletes.instance_id = post_hashtags.instance_id
                    and deletes.status_id = post_hashtags.post_id
            )
        group by post_hashtags.instance_id, post_hashtags.hashtag_name
    ),

    final as (
        select
            {{ hash_key(['changed_tags.instance_id', 'changed_tags.name']) }} as hashtag_id,
            changed_tags.instance_id,
            changed_tags.name,
            least(kept.first_seen_at, changed_tags.first_seen_at) as first_seen_at,
            greatest(kept.last_seen_at, changed_tags.last_seen_at) as last_seen_at,
            coalesce(post_counts.post_count, 0) as post_count,
            {{ run_started_timestamptz() }} as refreshed_at
        from changed_tags
        left join {{ this }} as kept
            on
                changed_tags.instance_id = kept.instance_id
                and changed_tags.name = kept.name
        left join post_counts
            on
                changed_tags.instance_id = post_counts.instance_id
                and changed_tags.name = post_counts.name
    )

{% else %}

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
            count(distinct case when is_current and deleted_at is null then post_id end) as post_count,
            {{ run_started_timestamptz() }} as refreshed_at
        from tag_uses
        group by instance_id, name
    )

{% endif %}

select * from final
