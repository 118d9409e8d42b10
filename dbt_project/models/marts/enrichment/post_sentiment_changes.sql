{#-
  The seed's edit analysis, "posts whose sentiment changed after an edit": every edit (version_seq > 1)
  whose version and the version it replaced were both scored, with both labels and scores. Filter
  is_label_changed for the posts whose label changed; score_change shows smaller shifts.
-#}
with

sentiments as (
    select * from {{ ref('post_sentiments') }}
    where sentiment_status = 'scored'
),

final as (
    select
        edits.instance_id,
        edits.post_id,
        edits.status_version_seq,
        edits.version_valid_from as edited_at,
        previous.sentiment_label as previous_label,
        edits.sentiment_label,
        previous.sentiment_score as previous_score,
        edits.sentiment_score,
        edits.sentiment_score - previous.sentiment_score as score_change,
        edits.sentiment_label <> previous.sentiment_label as is_label_changed,
        edits.is_current_version,
        edits.is_post_deleted,
        edits.model,
        previous.model as previous_model
    from sentiments as edits
    inner join sentiments as previous
        on
            edits.instance_id = previous.instance_id
            and edits.post_id = previous.post_id
            and edits.status_version_seq = previous.status_version_seq + 1
    where edits.status_version_seq > 1
)

select * from final
