{#-
  Engagement velocity at the reference time (var engagement_as_of, default the newest snapshot), from
  post_metric_snapshots (read in lateral lookups that use its index): favourites, boosts and replies gained
  in the post's first hour, in the last hour and in the last 2 hours, and the engagement growth of the last
  2 hours in percent. One row per post active in the 2 hours up to the reference time: created then, or with
  a snapshot then (its counts changed, or it was first observed). Every other post gained nothing in those
  windows, so leaving it out keeps the mart (and its rebuild, which reads only the window's snapshots
  through the index on captured_at) as small as the recent activity, however long the history.

  The count of a post at time t is its latest snapshot at or before t. At the start of a window the post
  has 0 when it was created inside the window; otherwise its latest snapshot before the window, or, when it
  was first observed inside the window, that first snapshot (growth before the first observation is unknown,
  not counted). first hour = count at created_at + 1 h (null when no snapshot was taken in the first hour).
-#}
with

reference as (
    {{ snapshot_reference('engagement_as_of') }}
),

-- scalar subqueries (not a join with `reference`) so the window's bounds are index range conditions
active_posts as (
    select
        snapshots.instance_id,
        snapshots.post_id
    from {{ ref('post_metric_snapshots') }} as snapshots
    where
        snapshots.captured_at >= {{ hours_before('(select reference.as_of from reference)', 2) }}
        and snapshots.captured_at <= (select reference.as_of from reference)
    union
    select
        new_posts.instance_id,
        new_posts.post_id
    from {{ ref('posts') }} as new_posts
    where
        new_posts.created_at >= {{ hours_before('(select reference.as_of from reference)', 2) }}
        and new_posts.created_at <= (select reference.as_of from reference)
),

posts as (
    select
        posts.post_id,
        posts.instance_id,
        posts.created_at
    from {{ ref('posts') }} as posts
    inner join active_posts
        on
            posts.instance_id = active_posts.instance_id
            and posts.post_id = active_posts.post_id
    where posts.is_reblog = false
),

points as (
    -- the moments each post's counts are needed at
    select
        posts.post_id,
        posts.instance_id,
        posts.created_at,
        reference.as_of,
        moments.moment_name,
        moments.moment_at
    from posts
    cross join reference
    cross join
        lateral (
            values
            ('now', reference.as_of),
            ('minus_1h', {{ hours_before('reference.as_of', 1) }}),
            ('minus_2h', {{ hours_before('reference.as_of', 2) }}),
            ('first_hour', {{ hours_before('posts.created_at', -1) }})
        ) as moments (moment_name, moment_at)
    where posts.created_at <= reference.as_of
),

valued as (
    select
        points.post_id,
        points.instance_id,
        points.created_at,
        points.as_of,
        points.moment_name,
        points.moment_at,
        at_moment.favourites_count,
        at_moment.reblogs_count,
        at_moment.replies_count,
        at_moment.engagement_score,
        first_after.favourites_count as first_favourites_count,
        first_after.reblogs_count as first_reblogs_count,
        first_after.replies_count as first_replies_count,
        first_after.engagement_score as first_engagement_score
    from points
    left join lateral (
        select
            snapshots.favourites_count,
            snapshots.reblogs_count,
            snapshots.replies_count,
            snapshots.engagement_score
        from {{ ref('post_metric_snapshots') }} as snapshots
        where
            snapshots.instance_id = points.instance_id
            and snapshots.post_id = points.post_id
            and snapshots.captured_at <= least(points.moment_at, points.as_of)
        order by snapshots.captured_at desc, snapshots.snapshot_id desc
        limit 1
    ) as at_moment on true
    left join lateral (
        select
            snapshots.favourites_count,
            snapshots.reblogs_count,
            snapshots.replies_count,
            snapshots.engagement_score
        from {{ ref('post_metric_snapshots') }} as snapshots
        where
            snapshots.instance_id = points.instance_id
            and snapshots.post_id = points.post_id
            and snapshots.captured_at > points.moment_at
            and snapshots.captured_at <= points.as_of
        order by snapshots.captured_at asc, snapshots.snapshot_id asc
        limit 1
    ) as first_after on points.moment_name in ('minus_1h', 'minus_2h')
),

window_start as (
    -- the counts at the start of a window, per the rules above
    select
        valued.*,
        case
            when valued.created_at >= valued.moment_at then 0
            else coalesce(valued.favourites_count, valued.first_favourites_count)
        end as start_favourites,
        case
            when valued.created_at >= valued.moment_at then 0
            else coalesce(valued.reblogs_count, valued.first_reblogs_count)
        end as start_reblogs,
        case
            when valued.created_at >= valued.moment_at then 0
            else coalesce(valued.replies_count, valued.first_replies_count)
        end as start_replies,
        case
            when valued.created_at >= valued.moment_at then 0
            else coalesce(valued.engagement_score, valued.first_engagement_score)
        end as start_engagement
    from valued
),

pivoted as (
    select
        post_id,
        instance_id,
        created_at,
        as_of,
        max(favourites_count) filter (where moment_name = 'now') as favourites_now,
        max(reblogs_count) filter (where moment_name = 'now') as reblogs_now,
        max(replies_count) filter (where moment_name = 'now') as replies_now,
        max(engagement_score) filter (where moment_name = 'now') as engagement_now,
        max(favourites_count) filter (where moment_name = 'first_hour') as favourites_at_1h,
        max(reblogs_count) filter (where moment_name = 'first_hour') as reblogs_at_1h,
        max(replies_count) filter (where moment_name = 'first_hour') as replies_at_1h,
        max(start_favourites) filter (where moment_name = 'minus_1h') as favourites_1h_ago,
        max(start_reblogs) filter (where moment_name = 'minus_1h') as reblogs_1h_ago,
        max(start_replies) filter (where moment_name = 'minus_1h') as replies_1h_ago,
        max(start_favourites) filter (where moment_name = 'minus_2h') as favourites_2h_ago,
        max(start_reblogs) filter (where moment_name = 'minus_2h') as reblogs_2h_ago,
        max(start_replies) filter (where moment_name = 'minus_2h') as replies_2h_ago,
        max(start_engagement) filter (where moment_name = 'minus_2h') as engagement_2h_ago
    from window_start
    group by post_id, instance_id, created_at, as_of
),

final as (
    select
        post_id,
        instance_id,
        created_at,
        as_of,
        cast(favourites_now as bigint) as favourites_count,
        cast(reblogs_now as bigint) as reblogs_count,
        cast(replies_now as bigint) as replies_count,
        cast(engagement_now as double precision) as engagement_score,
        cast(favourites_at_1h as bigint) as favourites_first_hour,
        cast(reblogs_at_1h as bigint) as reblogs_first_hour,
        cast(replies_at_1h as bigint) as replies_first_hour,
        cast(favourites_now - favourites_1h_ago as bigint) as favourites_last_hour,
        cast(reblogs_now - reblogs_1h_ago as bigint) as reblogs_last_hour,
        cast(replies_now - replies_1h_ago as bigint) as replies_last_hour,
        cast(favourites_now - favourites_2h_ago as bigint) as favourites_last_2h,
        cast(reblogs_now - reblogs_2h_ago as bigint) as reblogs_last_2h,
        cast(replies_now - replies_2h_ago as bigint) as replies_last_2h,
        cast(engagement_2h_ago as double precision) as engagement_score_2h_ago,
        cast(
            case
                when engagement_2h_ago > 0 then (engagement_now - engagement_2h_ago) / engagement_2h_ago * 100
            end as double precision
        ) as engagement_growth_pct_2h
    from pivoted
    where engagement_now is not null
)

select * from final
