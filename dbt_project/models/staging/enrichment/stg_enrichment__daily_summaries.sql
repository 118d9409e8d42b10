{#-
  One row per daily summary attempt result: instance, local day window and (model, prompt_version), typed,
  with the headline statistics extracted from input_stats_json. The source table exists from the start
  (`forkalytics db start`, Warehouse.bootstrap, creates it); it is empty until the first enrichment run.
-#}
with

source_summaries as (
    select * from {{ source('enrichment', 'daily_summaries') }}
),

final as (
    select
        cast(instance_id as text) as instance_id,
        cast(summary_date as date) as summary_date,
        cast(time_zone as text) as time_zone,
        cast(window_start as timestamptz) as window_start,
        cast(window_end as timestamptz) as window_end,
        cast(model as text) as model,  -- noqa: RF04
        cast(prompt_version as text) as prompt_version,
        cast(provider as text) as provider,  -- noqa: RF04
        cast(status as text) as summary_status,
        input_stats_json,
        cast(input_hash as text) as input_hash,
        cast(summary_text as text) as summary_text,
        trending_topics,
        notable_events,
        cast(error as text) as error,
        cast(analyzed_at as timestamptz) as analyzed_at,
        cast(last_attempt_at as timestamptz) as last_attempt_at,
        cast(attempt_count as integer) as attempt_count,
        cast(prompt_tokens as integer) as prompt_tokens,
        cast(completion_tokens as integer) as completion_tokens,
        cast({{ json_get_text('input_stats_json', ['post_count']) }} as bigint) as post_count,
        cast({{ json_get_text('input_stats_json', ['unique_authors']) }} as bigint) as unique_authors,
        cast({{ json_get_text('input_stats_json', ['engagement', 'total']) }} as double precision)
            as total_engagement,
        cast({{ json_get_text('input_stats_json', ['sentiment', 'average_score']) }} as double precision)
            as average_sentiment,
        cast({{ json_get_text('input_stats_json', ['sentiment', 'positive']) }} as bigint) as positive_count,
        cast({{ json_get_text('input_stats_json', ['sentiment', 'neutral']) }} as bigint) as neutral_count,
        cast({{ json_get_text('input_stats_json', ['sentiment', 'negative']) }} as bigint) as negative_count
    from source_summaries
)

select * from final
