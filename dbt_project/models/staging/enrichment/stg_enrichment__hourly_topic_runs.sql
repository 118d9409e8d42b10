{#-
  One row per topic analysis of an instance and UTC hour with a (model, prompt_version): its status, audit
  columns and what validation dropped from the provider's answer. Empty before the first enrichment run.
  The source table exists from the start: `forkalytics db start` (Warehouse.bootstrap) creates it.
-#}
with

source_runs as (
    select * from {{ source('enrichment', 'hourly_topic_runs') }}
),

final as (
    select
        cast(instance_id as text) as instance_id,
        cast(hour_start as timestamptz) as hour_start,
        cast(hour_end as timestamptz) as hour_end,
        cast(model as text) as model,  -- noqa: RF04
        cast(prompt_version as text) as prompt_version,
        cast(provider as text) as provider,  -- noqa: RF04
        cast(status as text) as run_status,
        cast(input_post_count as integer) as input_post_count,
        cast(topic_count as integer) as topic_count,
        validation_notes,
        cast(input_hash as text) as input_hash,
        cast(error as text) as error,
        cast(analyzed_at as timestamptz) as analyzed_at,
        cast(last_attempt_at as timestamptz) as last_attempt_at,
        cast(attempt_count as integer) as attempt_count,
        cast(prompt_tokens as integer) as prompt_tokens,
        cast(completion_tokens as integer) as completion_tokens
    from source_runs
)

select * from final
