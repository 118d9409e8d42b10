-- The seed's "edit analysis" example: every edit (version_seq > 1) next to the version it replaced, with
-- how long after the previous version it came and how the text length changed. Once post_sentiments
-- lands (enrichment, keyed by status_version_seq) join it on (post_id, instance_id, version_seq) to find
-- posts whose sentiment changed after editing. Deleted posts are included with their text redacted.
with

versions as (
    select * from {{ ref('post_versions') }}
),

final as (
    select
        edits.post_id,
        edits.instance_id,
        edits.version_seq,
        edits.edited_at,
        previous.content_text as previous_text,
        edits.content_text,
        {{ elapsed_seconds('previous.valid_from', 'edits.valid_from') }} as seconds_since_previous_version,
        length(edits.content_text) - length(previous.content_text) as length_change,
        edits.is_post_deleted
    from versions as edits
    inner join versions as previous
        on
            edits.instance_id = previous.instance_id
            and edits.post_id = previous.post_id
            and edits.version_seq = previous.version_seq + 1
    where edits.version_seq > 1
)

select * from final
order by instance_id, post_id, version_seq
