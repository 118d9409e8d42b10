-- The seed's "engagement velocity" example: posts that gained more than
-- var('velocity_min_favourites_gained', 50) favourites in the hour before the reference time.
-- Written against the status observations (every poll / stream / back-fill observation carries counts)
-- until post_metric_snapshots lands. The reference time is var('analysis_as_of') or, by default, the newest
-- observation, so the query also works on historical data. Deleted posts are excluded.
-- Run: dbt compile --select engagement_velocity, then run the compiled SQL (or paste it into a BI tool).
{% set as_of = var('analysis_as_of', none) %}
{% set as_of_literal = "cast('" ~ as_of ~ "' as timestamptz)" if as_of else "cast(null as timestamptz)" %}
with

reference as (
    select coalesce({{ as_of_literal }}, max(observed_at)) as as_of
    from {{ ref('int_status_observations') }}
),

observations as (
    select
        observations.instance_id,
        observations.status_id,
        observations.observed_at,
        observations.favourites_count
    from {{ ref('int_status_observations') }} as observations
    where observations.favourites_count is not null
),

windowed as (
    select
        observations.instance_id,
        observations.status_id,
        max(
            case
                when observations.observed_at < {{ hours_before('reference.as_of', 1) }} then observations.observed_at
            end
        ) as last_before_at,
        max(
            case
                when observations.observed_at >= {{ hours_before('reference.as_of', 1) }}
                    and observations.observed_at <= reference.as_of
                    then observations.observed_at
            end
        ) as last_within_at
    from observations
    cross join reference
    group by observations.instance_id, observations.status_id
),

gains as (
    select
        windowed.instance_id,
        windowed.status_id as post_id,
        coalesce(within_hour.favourites_count, 0) - coalesce(before_hour.favourites_count, 0) as favourites_gained
    from windowed
    left join observations as within_hour
        on
            windowed.instance_id = within_hour.instance_id
            and windowed.status_id = within_hour.status_id
            and windowed.last_within_at = within_hour.observed_at
    left join observations as before_hour
        on
            windowed.instance_id = before_hour.instance_id
            and windowed.status_id = before_hour.status_id
            and windowed.last_before_at = before_hour.observed_at
    where windowed.last_within_at is not null
),

final as (
    select
        posts.post_id,
        posts.instance_id,
        posts.content_text,
        max(gains.favourites_gained) as favourites_gained
    from gains
    inner join {{ ref('posts') }} as posts
        on
            gains.instance_id = posts.instance_id
            and gains.post_id = posts.post_id
    where posts.deleted_at is null
    group by posts.post_id, posts.instance_id, posts.content_text
    having max(gains.favourites_gained) > {{ var('velocity_min_favourites_gained', 50) }}
)

select * from final
order by favourites_gained desc
