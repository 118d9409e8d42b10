{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'media_id'],
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forkalytics.index_lookups_only() if is_incremental() }}",
            "{{ forkalytics.delete_touched_keys(['instance_id', 'media_id'], forkalytics.media_attachments_touched_media()) }}",
        ],
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'media_id'], unique=true) }}",
            "{{ forkalytics.lookup_index('post', ['instance_id', 'post_id']) }}",
            "{{ forkalytics.privacy_hook_media_attachments() }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per media attachment of a post's current version (the seed's future `media_attachments`).
  For deleted posts the description and URLs are redacted (var redact_deleted_content); type and
  metadata stay.

  Incremental: the media of the posts whose versions were refreshed since the last run (those of their
  current version and those this mart held for them: macros/touched_keys.sql) are recomputed from every
  current version holding them (the GIN index on int_post_versions.media_attachments ids: one lookup per
  media, which index_lookups_only makes the planner take); the pre-hook deletes them first (an edit can
  drop an attachment). Media of an account that opts out later are blanked
  by the privacy post-hook.
-#}
with

{% if is_incremental() %}
    touched_media as (
        {{ media_attachments_touched_media() }}
    ),
{% endif %}

media_rows as (
    select
        versions.instance_id,
        versions.post_id,
        versions.deleted_at,
        {{ json_get_text('media.value', ['id']) }} as media_id,
        {{ json_get_text('media.value', ['type']) }} as media_type,
        {{ json_get_text('media.value', ['url']) }} as url,
        {{ json_get_text('media.value', ['preview_url']) }} as preview_url,
        {{ json_get_text('media.value', ['remote_url']) }} as remote_url,
        {{ json_get_text('media.value', ['description']) }} as description,
        {{ json_get_text('media.value', ['blurhash']) }} as blurhash,
        {{ json_get('media.value', ['meta']) }} as meta,
        media.ordinal
    from {{ ref('int_post_versions') }} as versions
    {% if is_incremental() %}
        inner join touched_media
            on
                versions.instance_id = touched_media.instance_id
                and {{ json_array_has_id('versions.media_attachments', 'touched_media.media_id') }}
    {% endif %}
    {{ json_array_rows('versions.media_attachments', 'media') }}
    where
        versions.is_current
        {% if is_incremental() %}
            and {{ json_get_text('media.value', ['id']) }} = touched_media.media_id
        {% endif %}
),

ranked as (
    select
        media_rows.*,
        row_number() over (
            partition by media_rows.instance_id, media_rows.media_id
            order by media_rows.post_id, media_rows.ordinal
        ) as media_rank
    from media_rows
    where media_rows.media_id is not null
),

final as (
    select
        media_id,
        instance_id,
        post_id,
        case
            when media_type in ('image', 'gifv', 'video', 'audio') then media_type
            else 'unknown'
        end as media_type,
        {{ redacted('url', 'deleted_at') }} as url,
        {{ redacted('preview_url', 'deleted_at') }} as preview_url,
        {{ redacted('remote_url', 'deleted_at') }} as remote_url,
        {{ redacted('description', 'deleted_at') }} as description,
        blurhash,
        meta,
        cast(ordinal as integer) as position,
        {{ run_started_timestamptz() }} as refreshed_at
    from ranked
    where media_rank = 1
)

select * from final
