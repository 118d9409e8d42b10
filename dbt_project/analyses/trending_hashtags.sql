-- The seed's "trending hashtags" example, with its hole closed (see design/trending.md §2): the recent
-- window (4 h) and the baseline (the 20 h before it) have different lengths, so uses are compared as
-- rates per hour, flagged when recent_rate > baseline_rate * var('trending_growth_threshold', 1.5).
-- Uses = posts (current version) created in the window; deleted posts excluded. Reference time:
-- var('analysis_as_of') or the newest post.
{% set as_of = var('analysis_as_of', none) %}
{% set as_of_literal = "cast('" ~ as_of ~ "' as timestamptz)" if as_of else "cast(null as timestamptz)" %}
with

reference as (
    select coalesce({{ as_of_literal }}, max(created_at)) as as_of
    from {{ ref('posts') }}
),

uses as (
    select
        post_hashtags.instance_id,
        post_hashtags.hashtag_id,
        posts.created_at
    from {{ ref('post_hashtags') }} as post_hashtags
    inner join {{ ref('posts') }} as posts
        on
            post_hashtags.instance_id = posts.instance_id
            and post_hashtags.post_id = posts.post_id
    where posts.deleted_at is null
),

counted as (
    select
        uses.instance_id,
        uses.hashtag_id,
        count(
            case
                when
                    uses.created_at > {{ hours_before('reference.as_of', 4) }} and uses.created_at <= reference.as_of
                    then 1
            end
        ) as recent_count,
        count(
            case
                when uses.created_at > {{ hours_before('reference.as_of', 24) }}
                    and uses.created_at <= {{ hours_before('reference.as_of', 4) }}
                    then 1
            end
        ) as baseline_count
    from uses
    cross join reference
    group by uses.instance_id, uses.hashtag_id
),

final as (
    select
        hashtags.instance_id,
        hashtags.name,
        counted.recent_count,
        counted.baseline_count,
        counted.recent_count / 4.0 as recent_per_hour,
        counted.baseline_count / 20.0 as baseline_per_hour
    from counted
    inner join {{ ref('hashtags') }} as hashtags
        on counted.hashtag_id = hashtags.hashtag_id
    where
        counted.recent_count > 0
        and counted.recent_count / 4.0 > counted.baseline_count / 20.0 * {{ var('trending_growth_threshold', 1.5) }}
)

select * from final
order by recent_per_hour desc, name asc
