{#-
  One row per enrichment result for a post version and (model, prompt_version), typed. Before the first
  enrichment run the source table may not exist yet: the model is then empty (same columns and types)
  instead of failing the build; the next dbt run after `forkalytics enrich` reads the table.
-#}
{%- set source_relation = load_relation(source('enrichment', 'post_sentiments')) if execute is sameas true else none -%}
with

source_sentiments as (
    {% if source_relation is not none or execute is not sameas true %}
        select * from {{ source('enrichment', 'post_sentiments') }}
    {% else %}
        select
            cast(null as text) as instance_id,
            cast(null as text) as post_id,
            cast(null as integer) as status_version_seq,
            cast(null as text) as model,  -- noqa: RF04
            cast(null as text) as prompt_version,
            cast(null as text) as provider,  -- noqa: RF04
            cast(null as text) as status,
            cast(null as double precision) as sentiment_score,
            cast(null as text) as sentiment_label,
            cast(null as text) as language,
            cast(null as text) as skip_reason,
            cast(null as text) as error,
            cast(null as text) as input_hash,
            cast(null as timestamptz) as analyzed_at,
            cast(null as timestamptz) as first_attempt_at,
            cast(null as timestamptz) as last_attempt_at,
            cast(null as integer) as attempt_count,
            cast(null as timestamptz) as next_retry_at,
            cast(null as boolean) as reused,
            cast(null as text) as request_id,
            cast(null as integer) as request_post_count,
            cast(null as integer) as prompt_tokens,
            cast(null as integer) as completion_tokens
        where false
    {% endif %}
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
        cast(completion_tokens as integer) as completion_tokens
    from source_sentiments
)

select * from final
