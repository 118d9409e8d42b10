-- The seed's "edit analysis" example, "find posts that changed sentiment after editing": every edit
-- (version_seq > 1) whose sentiment label differs from the label of the version it replaced, newest edit
-- first, with both labels and scores. Only edits whose new version and the version before it were both
-- scored can be compared (versions skipped for their language, failed, or of posts deleted before they were
-- analysed have no label); deleted posts keep the labels computed before their deletion.
-- Read from the mart post_sentiment_changes, which holds the seed's join (post_versions with version_seq > 1
-- joined to post_sentiments on status_version_seq = version_seq, and the version before each edit likewise)
-- built once with the marts, every compared edit with is_label_changed: the query reads only the edits whose
-- label changed (index on is_label_changed, edited_at), not the version history, however long it is.
-- Run: dbt compile --select edit_analysis, then run the compiled SQL (or paste it into a BI tool).
with

final as (
    select
        changes.instance_id,
        changes.post_id,
        changes.status_version_seq as version_seq,
        changes.edited_at,
        changes.previous_label,
        changes.sentiment_label,
        changes.previous_score,
        changes.sentiment_score,
        changes.score_change,
        changes.is_current_version,
        changes.is_post_deleted
    from {{ ref('post_sentiment_changes') }} as changes
    where changes.is_label_changed
)

select * from final
order by edited_at desc, instance_id asc, post_id asc, version_seq asc
