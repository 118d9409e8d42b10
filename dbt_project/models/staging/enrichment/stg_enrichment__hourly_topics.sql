{#-
  One row per topic found in an instance's UTC hour by a (model, prompt_version), typed. Post counts,
  average sentiment and post ids were computed and validated by enrichment/ against the hour's posts.
  Empty before the first enrichment run.
-#}
{%- set source_relation = load_relation(source('enrichment', 'hourly_topics')) if execute is sameas true else none -%}
with

source_topics as (
    {% if source_relation is not none or execute is not sameas true %}
        select * from {{ source('enrichment', 'hourly_topics') }}
    {% else %}
        select
            cast(null as text) as instance_id,
            cast(null as timestamptz) as hour_start,
            cast(null as text) as model,  -- noqa: RF04
            cast(null as text) as prompt_version,
            cast(null as integer) as topic_rank,
            cast(null as text) as topic,
            cast(null as text) as summary,  -- noqa: RF04
            cast(null as integer) as post_count,
            cast(null as double precision) as average_sentiment,
            cast(null as {{ json_type_name() }}) as sample_post_ids,
            cast(null as {{ json_type_name() }}) as post_ids,
            cast(null as text) as input_hash,
            cast(null as timestamptz) as analyzed_at
        where false
    {% endif %}
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
