{#-
  Mastodon's link trends (Trends::Links) per instance, preview-card URL and evaluation hour (the last
  trending_evaluation_hours hours up to the reference hour: var trending_as_of, default the newest post's
  hour): expected = distinct accounts sharing the link during the previous UTC day (0 -> 1.0), observed =
  distinct accounts so far in the current UTC day up to the end of the hour; score = 0 when observed <
  trending_mastodon_min_accounts or expected > observed, else (observed - expected)^2 / expected; the peak
  of the last trending_mastodon_peak_days days decays with an 8 h half-life
  (trending_mastodon_link_half_life_hours); trending while the decayed score >= 1. Public, non-boost,
  non-deleted posts only; the card of each post's newest observation that has one (posts.card_url, kept
  there incrementally: this reads no event payload, only the posts of the window by the created_at index).
-#}
{% set as_of = var('trending_as_of', none) %}
with

reference as (
    {% if as_of %}
        select {{ truncate_timestamp('hour', "cast('" ~ as_of ~ "' as timestamptz)") }} as reference_hour
    {% else %}
        -- the hour of the newest post (truncating after max() lets the index on posts.created_at answer)
        select {{ truncate_timestamp('hour', 'max(all_posts.created_at)') }} as reference_hour
        from {{ ref('posts') }} as all_posts
    {% endif %}
),

window_start as (
    select
        {{ truncate_timestamp('day', hours_before('reference.reference_hour', var('trending_evaluation_hours'))) }}
        - interval '1 day' as created_from
    from reference
),

-- the shares the grid can count (from the earliest evaluation hour's previous UTC day on), read through the
-- index on posts.created_at: each post's card URL is kept in posts (its newest observation with a card)
shares as (
    select
        posts.instance_id,
        posts.card_url as url,
        posts.account_id,
        posts.created_at
    from {{ ref('posts') }} as posts
    where
        posts.deleted_at is null
        and not posts.is_reblog
        and posts.visibility = 'public'
        and posts.card_url is not null
        and posts.created_at >= (select window_start.created_from from window_start)
),

candidates as (
    select distinct
        shares.instance_id,
        shares.url
    from shares
),

grid as (
    select
        candidates.instance_id,
        candidates.url,
        series.hour_ts
    from candidates
    cross join reference
    cross join lateral generate_series(
        {{ hours_before('reference.reference_hour', (var('trending_evaluation_hours') | int) - 1) }},
        reference.reference_hour,
        interval '1 hour'
    ) as series (hour_ts)
),

-- Every window bound below is a UTC hour or midnight, so whether a share counts depends only on its hour:
-- each account's first hour sharing a URL per UTC day is all the counts need (distinct accounts of a day up
-- to an hour = the accounts whose first hour that day is at or before it), a row per account and day
-- instead of each share joined to every evaluation hour of its window
share_days as (
    select
        shares.instance_id,
        shares.url,
        shares.account_id,
        {{ truncate_timestamp('day', 'shares.created_at') }} as share_day,
        min({{ truncate_timestamp('hour', 'shares.created_at') }}) as first_hour
    from shares
    group by
        shares.instance_id,
        shares.url,
        shares.account_id,
        {{ truncate_timestamp('day', 'shares.created_at') }}
),

first_hours as (
    select
        share_days.instance_id,
        share_days.url,
        share_days.share_day,
        share_days.first_hour,
        count(*) as new_accounts
    from share_days
    group by share_days.instance_id, share_days.url, share_days.share_day, share_days.first_hour
),

day_accounts as (
    select
        first_hours.instance_id,
        first_hours.url,
        first_hours.share_day,
        cast(sum(first_hours.new_accounts) as bigint) as account_count
    from first_hours
    group by first_hours.instance_id, first_hours.url, first_hours.share_day
),

-- distinct accounts from the start of the evaluation hour's UTC day through its end
observed as (
    select
        grid.instance_id,
        grid.url,
        grid.hour_ts,
        cast(sum(first_hours.new_accounts) as bigint) as observed_accounts
    from grid
    inner join first_hours
        on
            grid.instance_id = first_hours.instance_id
            and grid.url = first_hours.url
            and first_hours.share_day = {{ truncate_timestamp('day', 'grid.hour_ts') }}
            and grid.hour_ts >= first_hours.first_hour
    group by grid.instance_id, grid.url, grid.hour_ts
),

-- the hours with a share from the previous UTC day's start through their end
counted as (
    select
        grid.instance_id,
        grid.url,
        grid.hour_ts,
        coalesce(observed.observed_accounts, 0) as observed_accounts,
        coalesce(previous_day.account_count, 0) as previous_day_accounts
    from grid
    left join observed
        on
            grid.instance_id = observed.instance_id
            and grid.url = observed.url
            and grid.hour_ts = observed.hour_ts
    left join day_accounts as previous_day
        on
            grid.instance_id = previous_day.instance_id
            and grid.url = previous_day.url
            and previous_day.share_day = {{ truncate_timestamp('day', 'grid.hour_ts') }} - interval '1 day'
    where observed.observed_accounts is not null or previous_day.account_count is not null
),

scored as (
    select
        counted.*,
        case when counted.previous_day_accounts = 0 then 1.0 else counted.previous_day_accounts end
            as expected_accounts
    from counted
),

methods as (
    select
        scored.*,
        case
            when
                scored.observed_accounts < {{ var('trending_mastodon_min_accounts') }}
                or scored.expected_accounts > scored.observed_accounts
                then 0.0
            else power(scored.observed_accounts - scored.expected_accounts, 2) / scored.expected_accounts
        end as score
    from scored
),

peaks as (
    -- max(array[score, epoch]) over the window is the peak score and its latest hour
    select
        methods.*,
        max(array[methods.score, extract(epoch from methods.hour_ts)]) filter (where methods.score > 0) over (
            partition by methods.instance_id, methods.url order by methods.hour_ts
            range between interval '{{ 24 * (var('trending_mastodon_peak_days') | int) - 1 }} hours' preceding
            and current row
        ) as peak
    from methods
),

unpacked as (
    select
        peaks.*,
        to_timestamp(peaks.peak[2]) as peak_hour,
        coalesce(peaks.peak[1], 0) as peak_score
    from peaks
),

decayed as (
    select
        unpacked.*,
        unpacked.peak_score * power(
            0.5,
            coalesce({{ elapsed_seconds('unpacked.peak_hour', 'unpacked.hour_ts') }}, 0) / 3600.0
            / {{ var('trending_mastodon_link_half_life_hours') }}
        ) as decayed_score
    from unpacked
),

ranked as (
    select
        decayed.*,
        decayed.decayed_score >= {{ var('trending_mastodon_min_decayed_score') }} as is_trending,
        rank() over (
            partition by
                decayed.instance_id,
                decayed.hour_ts,
                decayed.decayed_score >= {{ var('trending_mastodon_min_decayed_score') }}
            order by decayed.decayed_score desc, decayed.url asc
        ) as position_in_hour
    from decayed
),

final as (
    select
        ranked.instance_id,
        ranked.url,
        ranked.hour_ts as evaluation_hour,
        ranked.hour_ts + interval '1 hour' as evaluated_at,
        ranked.hour_ts = reference.reference_hour as is_latest,
        cast(ranked.observed_accounts as bigint) as observed_accounts,
        cast(ranked.expected_accounts as double precision) as expected_accounts,
        cast(ranked.score as double precision) as score,
        cast(ranked.peak_score as double precision) as peak_score,
        ranked.peak_hour + interval '1 hour' as peak_at,
        cast(ranked.decayed_score as double precision) as decayed_score,
        ranked.is_trending,
        cast(case when ranked.is_trending then ranked.position_in_hour end as integer) as rank
    from ranked
    cross join reference
)

select * from final
