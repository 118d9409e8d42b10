{#-
  One row per topic found in an instance's UTC hour by a (model, prompt_version), typed. Post counts,
  average sentiment and post ids were computed and validated by enrichment/ against the hour's posts.
  Empty before the first enrichment run; the source table exists from the start (Warehouse.bootstrap).
-#}
with

source_topics as (
    select * from {{ source('enrichment', 'hourly_topics') }}
),

final as (
    select
        cast(instance_id as text) as instance_id,
        cast(hour_start as timestamptz) as hour_start,
        cast(model as text) as model,  -- noqa: RF04
        cast(prompt_version as text) as prompt_version,
        cast(topic_rank as integer) as topic_rank,
        cast(topic as text) as topic,
        cast(summary as text) as summary,  -- noqa: RF04
        cast(post_count as integer) as post_count,
        cast(average_sentiment as double precision) as average_sentiment,
        sample_post_ids,
        post_ids,
        cast(input_hash as text) as input_hash,
        cast(analyzed_at as timestamptz) as analyzed_at
    from source_topics
)

select * from final
