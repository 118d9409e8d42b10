{#-
  One row per media attachment of a post's current version (the seed's future `media_attachments`).
  For deleted posts the description and URLs are redacted (var redact_deleted_content); type and
  metadata stay.
-#}
with

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
    {{ json_array_rows('versions.media_attachments', 'media') }}
    where versions.is_current
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
        cast(ordinal as integer) as position
    from ranked
    where media_rank = 1
)

select * from final
