{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.privacy_hook_post_versions(intermediate=false) }}",
            "{{ forkalytics.refreshed_at_index() }}",
        ],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['instance_id', 'post_id', 'version_seq'], 'unique': true},
        ],
    )
}}
{#-
  SCD2 history of every post's content: version 1 is the original text, each edit one more version
  (even when several edits land between two dbt runs), `valid_to` is the next version's `valid_from`, and
  a delete closes the last version. Text of deleted posts is redacted (var redact_deleted_content).
  Incremental like int_post_versions: the posts whose versions were refreshed there since the last run
  are replaced.
-#}
with

-- incremental: int_post_versions rewrites every version of a post it recomputes, so the versions
-- refreshed there are whole posts
versions as (
    select versions.*
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        where versions.refreshed_at > {{ last_refreshed_at() }}
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
        versions.source_loaded_at,
        {{ run_started_timestamptz() }} as refreshed_at
    from versions
)

select * from final
