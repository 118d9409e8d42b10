{#-
  One row per topic of an instance's UTC hour, from the hour's most recent successful topic analysis (one
  model and prompt version per hour). Post counts, average sentiment and sample post ids were validated
  against the hour's posts by enrichment/. Hours whose analysis failed have no rows here (see
  stg_enrichment__hourly_topic_runs for their errors).
-#}
with

runs as (
    select * from {{ ref('stg_enrichment__hourly_topic_runs') }}
),

topics as (
    select * from {{ ref('stg_enrichment__hourly_topics') }}
),

chosen_runs as (
    select
        runs.*,
        row_number() over (
            partition by runs.instance_id, runs.hour_start
            order by runs.analyzed_at desc, runs.model asc, runs.prompt_version asc
        ) as preference_rank
    from runs
    where runs.run_status = 'ok'
),

final as (
    select
        {{ hash_key(['topics.instance_id', 'topics.hour_start', 'topics.topic_rank']) }} as hourly_topic_id,
        topics.instance_id,
        topics.hour_start,
        chosen.hour_end,
        topics.topic_rank,
        topics.topic,
        topics.summary,
        topics.post_count,
        topics.average_sentiment,
        topics.sample_post_ids,
        topics.post_ids,
        chosen.input_post_count as hour_input_post_count,
        topics.model,
        topics.prompt_version,
        chosen.provider,
        topics.input_hash,
        topics.analyzed_at
    from topics
    inner join chosen_runs as chosen
        on
            topics.instance_id = chosen.instance_id
            and topics.hour_start = chosen.hour_start
            and topics.model = chosen.model
            and topics.prompt_version = chosen.prompt_version
    where chosen.preference_rank = 1
)

select * from final
