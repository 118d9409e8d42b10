{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        post_hook="{{ forkalytics.privacy_hook_post_versions(intermediate=false) }}",
        on_schema_change='fail',
        indexes=[
            {'columns': ['instance_id', 'post_id', 'version_seq'], 'unique': true},
            {'columns': ['source_loaded_at']},
        ],
    )
}}
{#-
  SCD2 history of every post's content: version 1 is the original text, each edit one more version
  (even when several edits land between two dbt runs), `valid_to` is the next version's `valid_from`, and
  a delete closes the last version. Text of deleted posts is redacted (var redact_deleted_content).
  Incremental like int_post_versions: posts whose versions changed since the last run are replaced.
-#}
with

{% if is_incremental() %}
    watermark as (
        select {{ incremental_since('source_loaded_at') }} as since from {{ this }}
    ),

    touched_posts as (
        select distinct
            versions.instance_id,
            versions.post_id
        from {{ ref('int_post_versions') }} as versions
        where versions.source_loaded_at >= (select watermark.since from watermark)
    ),
{% endif %}

versions as (
    select versions.*
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        inner join touched_posts
            on
                versions.instance_id = touched_posts.instance_id
                and versions.post_id = touched_posts.post_id
    {% endif %}
),

final as (
    select
        {{ hash_key(['versions.instance_id', 'versions.post_id', 'versions.version_seq']) }} as post_version_id,
        versions.instance_id,
        versions.post_id,
        versions.version_seq,
        versions.valid_from,
        versions.valid_to,
        versions.is_current,
        versions.is_original,
        versions.edited_at,
        {{ redacted('versions.content_html', 'versions.deleted_at') }} as content_html,
        {{ redacted('versions.content_text', 'versions.deleted_at') }} as content_text,
        {{ redacted('versions.spoiler_text', 'versions.deleted_at') }} as spoiler_text,
        versions.sensitive,
        versions.language,
        versions.hashtags,
        versions.mentions,
        versions.media_count,
        {{ redacted('versions.version_key', 'versions.deleted_at') }} as content_hash,
        versions.first_observed_at,
        versions.last_observed_at,
        versions.observation_count,
        versions.deleted_at is not null as is_post_deleted,
        {{ 'versions.deleted_at is not null' if redact_deleted() else 'false' }} as is_redacted,
        versions.source_loaded_at
    from versions
)

select * from final
