{#-
  Mastodon's status trends (Trends::Statuses) at the reference time (var trending_as_of, default the newest
  metric snapshot), over the counts of post_metric_snapshots: observed = boosts + favourites of the latest
  snapshot at or before the reference time (0 below trending_mastodon_status_min_interactions), score =
  (observed - 1)^2 * 0.5^(age in hours / trending_mastodon_status_half_life_hours); trending while score >=
  trending_mastodon_status_threshold. Eligible: public, not sensitive, no content warning, not a reply, not
  a boost, language known, not deleted. Ranked per instance and language. Only trending posts are rows.

  The score halves every half-life, so a post older than half_life * log2((i - 1)^2 / threshold) hours
  cannot trend when no snapshot has more than i interactions: only the posts created since then are looked
  up (the index on posts.created_at), i being the most interactions of any snapshot (one probe of the
  expression index on post_metric_snapshots), so the work follows the recent posts, not the history. Of
  those, only the posts that had enough interactions at some snapshot are looked up: a score reaches a
  positive threshold only when the latest snapshot has at least max(min_interactions, 1 + sqrt(threshold))
  (below the minimum the score is 0, below the other (i - 1)^2 < threshold), and a post whose snapshots all
  have fewer is found by no probe of that index (at 1M events 64k posts instead of the 443k recent ones).
-#}
{% set threshold = var('trending_mastodon_status_threshold') | float %}
{#- the fewest interactions (an integer) a latest snapshot needs for a trending score; a hair lower
    rather than higher, so that rounding can only widen the candidates -#}
{% set fewest_trending_interactions = [
    var('trending_mastodon_status_min_interactions') | int,
    (1 + [threshold, 0] | max ** 0.5 - 1e-9) | round(0, 'ceil') | int,
] | max %}
with

reference as (
    {{ snapshot_reference('trending_as_of') }}
),

oldest_trending as (
    -- the creation time before which no post can reach the threshold (null: no post can trend)
    {% if threshold > 0 %}
        select
            (select reference.as_of from reference) - interval '1 hour' * (
                {{ var('trending_mastodon_status_half_life_hours') }}
                * cast(log(2.0, cast(power(most.interactions - 1, 2) as numeric) / {{ threshold }}) as double precision)
                + 1
            ) as created_from
        from (
            select max(snapshots.reblogs_count + snapshots.favourites_count) as interactions
            from {{ ref('post_metric_snapshots') }} as snapshots
        ) as most
        where
            most.interactions >= {{ var('trending_mastodon_status_min_interactions') }}
            and most.interactions > 1
    {% else %}
        select cast('-infinity' as timestamptz) as created_from
    {% endif %}
),

candidates as (
    -- the posts with a snapshot of enough interactions (the expression index on interactions)
    select distinct
        snapshots.instance_id,
        snapshots.post_id
    from {{ ref('post_metric_snapshots') }} as snapshots
    where
        snapshots.reblogs_count + snapshots.favourites_count >= {{ fewest_trending_interactions }}
        and snapshots.captured_at <= (select reference.as_of from reference)
),

eligible as (
    select posts.*
    from {{ ref('posts') }} as posts
    where
        -- (with a threshold of 0 or less every eligible post trends: no candidate filter)
        ({{ 'false' if threshold > 0 else 'true' }} or (posts.instance_id, posts.post_id) in (
            select
                candidates.instance_id,
                candidates.post_id
            from candidates
        ))
        and posts.deleted_at is null
        and posts.visibility = 'public'
        and not coalesce(posts.sensitive, false)
        and coalesce(posts.spoiler_text, '') = ''
        and not posts.is_reply
        and not posts.is_reblog
        and posts.language is not null
        and posts.created_at >= (select oldest_trending.created_from from oldest_trending)
        and posts.created_at <= (select reference.as_of from reference)
),

latest as (
    select
        eligible.post_id,
        eligible.instance_id,
        eligible.language,
        eligible.created_at,
        reference.as_of,
        counts.reblogs_count,
        counts.favourites_count,
        counts.captured_at
    from eligible
    cross join reference
    inner join lateral (
        select
            snapshots.reblogs_count,
            snapshots.favourites_count,
            snapshots.captured_at
        from {{ ref('post_metric_snapshots') }} as snapshots
        where
            snapshots.instance_id = eligible.instance_id
            and snapshots.post_id = eligible.post_id
            and snapshots.captured_at <= reference.as_of
        order by snapshots.captured_at desc, snapshots.snapshot_id desc
        limit 1
    ) as counts on true
    where eligible.created_at <= reference.as_of
),

scored as (
    select
        latest.*,
        latest.reblogs_count + latest.favourites_count as interactions,
        {{ elapsed_seconds('latest.created_at', 'latest.as_of') }} / 3600.0 as age_hours,
        case
            when latest.reblogs_count + latest.favourites_count < {{ var('trending_mastodon_status_min_interactions') }}
                then 0.0
            else power(latest.reblogs_count + latest.favourites_count - 1, 2)
                * power(
                    0.5,
                    {{ elapsed_seconds('latest.created_at', 'latest.as_of') }} / 3600.0
                    / {{ var('trending_mastodon_status_half_life_hours') }}
                )
        end as score
    from latest
),

ranked as (
    select
        scored.*,
        scored.score >= {{ var('trending_mastodon_status_threshold') }} as is_trending,
        rank() over (
            partition by
                scored.instance_id,
                scored.language,
                scored.score >= {{ var('trending_mastodon_status_threshold') }}
            order by scored.score desc, scored.post_id asc
        ) as position_in_language
    from scored
),

final as (
    select
        ranked.post_id,
        ranked.instance_id,
        ranked.language,
        ranked.created_at,
        ranked.as_of,
        ranked.captured_at as counts_captured_at,
        cast(ranked.reblogs_count as bigint) as reblogs_count,
        cast(ranked.favourites_count as bigint) as favourites_count,
        cast(ranked.interactions as bigint) as interactions,
        cast(ranked.age_hours as double precision) as age_hours,
        cast(ranked.score as double precision) as score,
        ranked.is_trending,
        cast(case when ranked.is_trending then ranked.position_in_language end as integer) as language_rank
    from ranked
    -- only the posts that trend, as Mastodon's status_trends keeps only scores >= its decay threshold: the
    -- mart stays as small as the trend list however long the history (BI tools read it whole)
    where ranked.is_trending
)

select * from final
