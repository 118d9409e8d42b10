{#-
  One row per post version that has a sentiment result: the preferred result when several models or prompt
  versions analysed it (scored before skipped before failed, then the newest), joined to the version
  (current or not) and the post (author, creation time and hour, deletion). Deleted posts keep the result
  computed before their deletion. Average sentiment per hour (hourly_stats) is
  avg(sentiment_score) over is_current_version and sentiment_status = 'scored', by post_created_hour.
-#}
with

results as (
    select * from {{ ref('stg_enrichment__post_sentiments') }}
),

versions as (
    select * from {{ ref('post_versions') }}
),

posts as (
    select * from {{ ref('posts') }}
),

ranked_results as (
    select
        results.*,
        row_number() over (
            partition by results.instance_id, results.post_id, results.status_version_seq
            order by
                case results.sentiment_status when 'scored' then 0 when 'skipped' then 1 else 2 end,
                results.analyzed_at desc nulls last,
                results.last_attempt_at desc,
                results.model asc,
                results.prompt_version asc
        ) as preference_rank,
        count(*) over (
            partition by results.instance_id, results.post_id, results.status_version_seq
        ) as result_count
    from results
),

final as (
    select
        {{ hash_key(['chosen.instance_id', 'chosen.post_id', 'chosen.status_version_seq']) }} as post_sentiment_id,
        chosen.instance_id,
        chosen.post_id,
        chosen.status_version_seq,
        versions.is_current as is_current_version,
        versions.valid_from as version_valid_from,
        versions.valid_to as version_valid_to,
        posts.account_id,
        posts.created_at as post_created_at,
        {{ truncate_timestamp('hour', 'posts.created_at') }} as post_created_hour,
        chosen.language,
        posts.is_reblog,
        posts.is_deleted as is_post_deleted,
        chosen.sentiment_status,
        chosen.sentiment_score,
        chosen.sentiment_label,
        chosen.skip_reason,
        chosen.error,
        chosen.model,
        chosen.prompt_version,
        chosen.provider,
        chosen.input_hash,
        chosen.analyzed_at,
        chosen.attempt_count,
        chosen.next_retry_at,
        chosen.is_reused,
        chosen.request_id,
        chosen.prompt_tokens,
        chosen.completion_tokens,
        cast(chosen.result_count as integer) as result_count
    from ranked_results as chosen
    inner join versions
        on
            chosen.instance_id = versions.instance_id
            and chosen.post_id = versions.post_id
            and chosen.status_version_seq = versions.version_seq
    inner join posts
        on
            chosen.instance_id = posts.instance_id
            and chosen.post_id = posts.post_id
    where chosen.preference_rank = 1
)

select * from final
