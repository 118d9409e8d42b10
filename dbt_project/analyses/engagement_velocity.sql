-- The seed's "engagement velocity" example: posts that gained more than
-- var('velocity_min_favourites_gained', 50) favourites in the hour before the reference time, i.e. the
-- favourites of the post's latest count in that hour minus those of its latest count before it (0 when
-- there is none), as the seed computes it. Deleted posts are excluded.
-- Read from the mart post_metric_snapshots (a row whenever a post's counts changed; boosts, whose counts are
-- the original's, left out): the latest snapshot at or before a time has the counts of the latest
-- observation at or before it. Only the hour's snapshots are read (index on captured_at), and only posts
-- with a count above the threshold in the hour can have gained more than it, so the rest are never
-- looked up. The reference time is var('analysis_as_of') or, by default, the newest snapshot (from the
-- same index), so the query also works on historical data.
-- Run: dbt compile --select engagement_velocity, then run the compiled SQL (or paste it into a BI tool).
{% set as_of = var('analysis_as_of', none) %}
{% set min_gained = var('velocity_min_favourites_gained', 50) %}
with

reference as (
    {% if as_of %}
        select cast('{{ as_of }}' as timestamptz) as as_of
    {% else %}
        select max(snapshots.captured_at) as as_of
        from {{ ref('post_metric_snapshots') }} as snapshots
    {% endif %}
),

candidates as (
    -- counts never go below 0, so a gain above the threshold needs a count above it within the hour
    select distinct
        snapshots.instance_id,
        snapshots.post_id,
        reference.as_of
    from {{ ref('post_metric_snapshots') }} as snapshots
    inner join reference
        on
            snapshots.captured_at >= {{ hours_before('reference.as_of', 1) }}
            and snapshots.captured_at <= reference.as_of
    where snapshots.favourites_count > {{ min_gained }}
),

gains as (
    select
        candidates.instance_id,
        candidates.post_id,
        within_hour.favourites_count - coalesce(before_hour.favourites_count, 0) as favourites_gained
    from candidates
    cross join
        lateral (
            select snapshots.favourites_count
            from {{ ref('post_metric_snapshots') }} as snapshots
            where
                snapshots.instance_id = candidates.instance_id
                and snapshots.post_id = candidates.post_id
                and snapshots.captured_at >= {{ hours_before('candidates.as_of', 1) }}
                and snapshots.captured_at <= candidates.as_of
            order by snapshots.captured_at desc, snapshots.snapshot_id desc
            limit 1
        ) as within_hour
    left join lateral (
        select snapshots.favourites_count
        from {{ ref('post_metric_snapshots') }} as snapshots
        where
            snapshots.instance_id = candidates.instance_id
            and snapshots.post_id = candidates.post_id
            and snapshots.captured_at < {{ hours_before('candidates.as_of', 1) }}
        order by snapshots.captured_at desc, snapshots.snapshot_id desc
        limit 1
    ) as before_hour on true
),

final as (
    select
        posts.post_id,
        posts.instance_id,
        posts.content_text,
        gains.favourites_gained
    from gains
    inner join {{ ref('posts') }} as posts
        on
            gains.instance_id = posts.instance_id
            and gains.post_id = posts.post_id
    where
        posts.deleted_at is null
        and gains.favourites_gained > {{ min_gained }}
)

select * from final
order by favourites_gained desc
