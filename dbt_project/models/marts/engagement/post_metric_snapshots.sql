{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "create index if not exists {{ this.identifier }}_tier_idx on {{ this }} (retention_tier, captured_at)",
            "create index if not exists {{ this.identifier }}_interactions_idx on {{ this }}
            ((reblogs_count + favourites_count))",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  The seed's post_metric_snapshots: one row per observation of a post whose counts differ from the
  previous observation of that post (the first observation always counts), from every source that carries
  counts (metric polls, stream events, back-fill, imports). Boosts are left out (their counts are the
  original's). Thinned like the seed's retention policy, relative to the reference time (var
  engagement_as_of, default the newest observation): all rows younger than metric_snapshots_keep_all_days,
  then the last row of each UTC hour up to metric_snapshots_keep_hourly_days, then the last of each UTC day.

  Incremental (delete+insert by post): the posts with an observation refreshed since the last run, and the
  posts with an observation between the old and the new position of a thinning boundary (a boundary moves
  with the reference time), are recomputed from all their observations. The old boundaries are not stored:
  the tiers kept bound them (a boundary lies after every row of the older tier and at or before every row
  of the younger one), found through the index on (retention_tier, captured_at); a post between those rows
  is recomputed too, which costs a little and changes nothing. Every other post's rows cannot change.
  The index on reblogs + favourites bounds the age of the posts trending_posts has to look at.
-#}
{% set as_of = var('engagement_as_of', none) %}
{% set keep_all = "(interval '1 day' * " ~ var('metric_snapshots_keep_all_days') ~ ")" %}
{% set keep_hourly = "(interval '1 day' * " ~ var('metric_snapshots_keep_hourly_days') ~ ")" %}
{% set counted_observation -%}
    observations.reblog_of_id is null
    and (
        observations.replies_count is not null
        or observations.reblogs_count is not null
        or observations.favourites_count is not null
    )
{%- endset %}
with

reference as (
    {% if as_of %}
        select cast('{{ as_of }}' as timestamptz) as as_of
    {% else %}
        -- the newest observation that counts (index on observed_at, read backwards)
        select max(observations.observed_at) as as_of
        from {{ ref('int_status_observations') }} as observations
        where {{ counted_observation }}
    {% endif %}
),

{% if is_incremental() %}
    -- where the boundaries were at the last run: between the newest row of the older tier and the oldest
    -- row of the younger one (open ends when a tier has no row)
    -- (one index probe each: (retention_tier, captured_at))
    old_tiers as (
        select
            (
                select max(kept.captured_at)
                from {{ this }} as kept
                where kept.retention_tier = 'hourly'
            ) as newest_hourly,
            (
                select max(kept.captured_at)
                from {{ this }} as kept
                where kept.retention_tier = 'daily'
            ) as newest_daily,
            (
                select min(kept.captured_at)
                from {{ this }} as kept
                where kept.retention_tier = 'hourly'
            ) as oldest_hourly,
            (
                select min(kept.captured_at)
                from {{ this }} as kept
                where kept.retention_tier = 'all'
            ) as oldest_all
    ),

    -- the observation times whose tier may differ between the last run and this one
    moved as (
        select
            least(
                coalesce(greatest(old_tiers.newest_hourly, old_tiers.newest_daily), cast('-infinity' as timestamptz)),
                reference.as_of - {{ keep_all }}
            ) as all_from,
            greatest(
                coalesce(old_tiers.oldest_all, cast('infinity' as timestamptz)), reference.as_of - {{ keep_all }}
            ) as all_to,
            least(
                coalesce(old_tiers.newest_daily, cast('-infinity' as timestamptz)),
                reference.as_of - {{ keep_hourly }}
            ) as hourly_from,
            greatest(
                coalesce(least(old_tiers.oldest_hourly, old_tiers.oldest_all), cast('infinity' as timestamptz)),
                reference.as_of - {{ keep_hourly }}
            ) as hourly_to
        from old_tiers
        cross join reference
    ),

    touched_posts as (
        select
            observations.instance_id,
            observations.status_id
        from {{ ref('int_status_observations') }} as observations
        where observations.refreshed_at > {{ last_refreshed_at() }}
        union
        select
            observations.instance_id,
            observations.status_id
        from {{ ref('int_status_observations') }} as observations
        where
            observations.observed_at between (select moved.all_from from moved) and (select moved.all_to from moved)
            or observations.observed_at
            between (select moved.hourly_from from moved) and (select moved.hourly_to from moved)
    ),
{% endif %}

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
    {% if is_incremental() %}
        inner join touched_posts
            on
                observations.instance_id = touched_posts.instance_id
                and observations.status_id = touched_posts.status_id
    {% endif %}
    where {{ counted_observation }}
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
            when changed.observed_at >= reference.as_of - {{ keep_all }}
                then changed.event_id
            when changed.observed_at >= reference.as_of - {{ keep_hourly }}
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
        end as retention_tier,
        {{ run_started_timestamptz() }} as refreshed_at
    from sampled
    where sampled.position_in_bucket = 1
)

select * from final
