{#-
  One row per enrichment result for a post version and (model, prompt_version), typed.
  The source table exists from the start: `forkalytics db start` (Warehouse.bootstrap) creates it.
-#}
with

source_sentiments as (
    select * from {{ source('enrichment', 'post_sentiments') }}
),

final as (
    select
        cast(instance_id as text) as instance_id,
        cast(post_id as text) as post_id,
        cast(status_version_seq as integer) as status_version_seq,
        cast(model as text) as model,  -- noqa: RF04
        cast(prompt_version as text) as prompt_version,
        cast(provider as text) as provider,  -- noqa: RF04
        cast(status as text) as sentiment_status,
        cast(sentiment_score as double precision) as sentiment_score,
        cast(sentiment_label as text) as sentiment_label,
        cast(language as text) as language,
        cast(skip_reason as text) as skip_reason,
        cast(error as text) as error,
        cast(input_hash as text) as input_hash,
        cast(analyzed_at as timestamptz) as analyzed_at,
        cast(first_attempt_at as timestamptz) as first_attempt_at,
        cast(last_attempt_at as timestamptz) as last_attempt_at,
        cast(attempt_count as integer) as attempt_count,
        cast(next_retry_at as timestamptz) as next_retry_at,
        cast(reused as boolean) as is_reused,
        cast(request_id as text) as request_id,
        cast(request_post_count as integer) as request_post_count,
        cast(prompt_tokens as integer) as prompt_tokens,
        cast(completion_tokens as integer) as completion_tokens,
        cast(written_at as timestamptz) as written_at
    from source_sentiments
)

select * from final
