-- The seed's "trending hashtags" example, with its hole closed (see design/trending.md §2): the recent
-- window (4 h) and the baseline (the 20 h before it) have different lengths, so uses are compared as
-- rates per hour, flagged when recent_rate > baseline_rate * var('trending_growth_threshold', 1.5).
-- Uses = posts (current version, not a boost, not deleted) using the tag, per instance, counted from the
-- pre-aggregated mart hashtag_hourly_stats: the windows are whole UTC hours, like the trending marts',
-- the recent one being the reference hour and the 3 before it. Reference hour: the hour of
-- var('analysis_as_of') or, by default, the newest hour (the hour of the newest post). Only the 24 hours
-- read are scanned (index on hour_ts), however long the history.
{% set as_of = var('analysis_as_of', none) %}
with

reference as (
    {% if as_of %}
        select {{ truncate_timestamp('hour', "cast('" ~ as_of ~ "' as timestamptz)") }} as reference_hour
    {% else %}
        select max(stats.hour_ts) as reference_hour
        from {{ ref('hashtag_hourly_stats') }} as stats
    {% endif %}
),

counted as (
    select
        stats.instance_id,
        stats.hashtag_name,
        sum(stats.posts_using_tag) filter (
            where stats.hour_ts > {{ hours_before('reference.reference_hour', 4) }}
        ) as recent_count,
        sum(stats.posts_using_tag) filter (
            where stats.hour_ts <= {{ hours_before('reference.reference_hour', 4) }}
        ) as baseline_count
    from {{ ref('hashtag_hourly_stats') }} as stats
    inner join reference
        on
            stats.hour_ts > {{ hours_before('reference.reference_hour', 24) }}
            and stats.hour_ts <= reference.reference_hour
    where stats.instance_id <> 'fediverse'
    group by stats.instance_id, stats.hashtag_name
),

final as (
    select
        counted.instance_id,
        counted.hashtag_name as name,
        cast(coalesce(counted.recent_count, 0) as bigint) as recent_count,
        cast(coalesce(counted.baseline_count, 0) as bigint) as baseline_count,
        coalesce(counted.recent_count, 0) / 4.0 as recent_per_hour,
        coalesce(counted.baseline_count, 0) / 20.0 as baseline_per_hour
    from counted
    where
        counted.recent_count > 0
        and counted.recent_count / 4.0
        > coalesce(counted.baseline_count, 0) / 20.0 * {{ var('trending_growth_threshold', 1.5) }}
)

select * from final
order by recent_per_hour desc, name asc
