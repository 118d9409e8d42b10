-- The seed's "edit analysis" example: every edit (version_seq > 1) next to the version it replaced, with
-- how long after the previous version it came and how the text length changed. Deleted posts are
-- included with their text redacted. The seed's purpose, posts whose sentiment changed after editing, is
-- the mart post_sentiment_changes (the same edits joined to post_sentiments on status_version_seq).
-- It lists every edit, so its cost grows with the history (about one version in ten is an edit): the
-- previous version is joined on post_versions' unique key (instance_id, post_id, version_seq), and the
-- mart is referenced twice rather than through one CTE, which PostgreSQL would materialise whole.
with

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
    from {{ ref('post_versions') }} as edits
    inner join {{ ref('post_versions') }} as previous
        on
            edits.instance_id = previous.instance_id
            and edits.post_id = previous.post_id
            and previous.version_seq = edits.version_seq - 1
    where edits.version_seq > 1
)

select * from final
order by instance_id, post_id, version_seq
