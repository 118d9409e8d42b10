{#-
  The seed's post_metric_snapshots: one row per observation of a post whose counts differ from the
  previous observation of that post (the first observation always counts), from every source that carries
  counts (metric polls, stream events, back-fill, imports). Boosts are left out (their counts are the
  original's). Thinned like the seed's retention policy, relative to the reference time (var
  engagement_as_of, default the newest observation): all rows younger than metric_snapshots_keep_all_days,
  then the last row of each UTC hour up to metric_snapshots_keep_hourly_days, then the last of each UTC day.
-#}
{% set as_of = var('engagement_as_of', none) %}
with

observations as (
    select
        observations.event_id,
        observations.instance_id,
        observations.status_id as post_id,
        observations.observed_at,
        observations.event_source,
        coalesce(observations.replies_count, 0) as replies_count,
        coalesce(observations.reblogs_count, 0) as reblogs_count,
        coalesce(observations.favourites_count, 0) as favourites_count,
        coalesce(observations.quotes_count, 0) as quotes_count
    from {{ ref('int_status_observations') }} as observations
    where
        observations.reblog_of_id is null
        and (
            observations.replies_count is not null
            or observations.reblogs_count is not null
            or observations.favourites_count is not null
        )
),

reference as (
    {% if as_of %}
        select cast('{{ as_of }}' as timestamptz) as as_of
    {% else %}
        select max(observations.observed_at) as as_of
        from observations
    {% endif %}
),

ordered as (
    select
        observations.*,
        lag(observations.replies_count) over by_post as previous_replies,
        lag(observations.reblogs_count) over by_post as previous_reblogs,
        lag(observations.favourites_count) over by_post as previous_favourites,
        lag(observations.quotes_count) over by_post as previous_quotes
    from observations
    window by_post as (
        partition by observations.instance_id, observations.post_id
        order by observations.observed_at, observations.event_id
    )
),

changed as (
    select ordered.*
    from ordered
    where
        ordered.previous_favourites is null
        or ordered.replies_count <> ordered.previous_replies
        or ordered.reblogs_count <> ordered.previous_reblogs
        or ordered.favourites_count <> ordered.previous_favourites
        or ordered.quotes_count <> ordered.previous_quotes
),

bucketed as (
    select
        changed.*,
        case
            when changed.observed_at
                >= reference.as_of - make_interval(days => {{ var('metric_snapshots_keep_all_days') }})
                then changed.event_id
            when changed.observed_at
                >= reference.as_of - make_interval(days => {{ var('metric_snapshots_keep_hourly_days') }})
                then 'h' || cast({{ truncate_timestamp('hour', 'changed.observed_at') }} as text)
            else 'd' || cast({{ truncate_timestamp('day', 'changed.observed_at') }} as text)
        end as retention_bucket
    from changed
    cross join reference
),

sampled as (
    select
        bucketed.*,
        row_number() over (
            partition by bucketed.instance_id, bucketed.post_id, bucketed.retention_bucket
            order by bucketed.observed_at desc, bucketed.event_id desc
        ) as position_in_bucket
    from bucketed
),

final as (
    select
        cast(sampled.event_id as text) as snapshot_id,
        sampled.instance_id,
        sampled.post_id,
        sampled.observed_at as captured_at,
        sampled.event_source as source,
        cast(sampled.replies_count as bigint) as replies_count,
        cast(sampled.reblogs_count as bigint) as reblogs_count,
        cast(sampled.favourites_count as bigint) as favourites_count,
        cast(sampled.quotes_count as bigint) as quotes_count,
        {{ engagement_score('sampled.reblogs_count', 'sampled.favourites_count', 'sampled.replies_count') }}
            as engagement_score,
        case
            when sampled.retention_bucket = sampled.event_id then 'all'
            when left(sampled.retention_bucket, 1) = 'h' then 'hourly'
            else 'daily'
        end as retention_tier
    from sampled
    where sampled.position_in_bucket = 1
)

select * from final
