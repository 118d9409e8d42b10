{#-
  One row per instance and local day (per configured time zone): the preferred summary when several models
  or prompt versions wrote one (a successful one first, then the newest), with its headline statistics and
  audit columns. Failed days appear with summary_status = 'failed' and their error until they succeed.
-#}
with

summaries as (
    select * from {{ ref('stg_enrichment__daily_summaries') }}
),

ranked_summaries as (
    select
        summaries.*,
        row_number() over (
            partition by summaries.instance_id, summaries.time_zone, summaries.window_start
            order by
                case summaries.summary_status when 'ok' then 0 else 1 end,
                summaries.analyzed_at desc nulls last,
                summaries.last_attempt_at desc,
                summaries.model asc,
                summaries.prompt_version asc
        ) as preference_rank
    from summaries
),

final as (
    select
        {{ hash_key(['chosen.instance_id', 'chosen.time_zone', 'chosen.window_start']) }} as daily_summary_id,
        chosen.instance_id,
        chosen.summary_date,
        chosen.time_zone,
        chosen.window_start,
        chosen.window_end,
        chosen.summary_status,
        chosen.summary_text,
        chosen.trending_topics,
        chosen.notable_events,
        chosen.post_count,
        chosen.unique_authors,
        chosen.total_engagement,
        chosen.average_sentiment,
        chosen.positive_count,
        chosen.neutral_count,
        chosen.negative_count,
        chosen.input_stats_json,
        chosen.model,
        chosen.prompt_version,
        chosen.provider,
        chosen.input_hash,
        chosen.analyzed_at,
        chosen.attempt_count,
        chosen.error,
        chosen.prompt_tokens,
        chosen.completion_tokens
    from ranked_summaries as chosen
    where chosen.preference_rank = 1
)

select * from final
