{#-
  Mastodon's link trends (Trends::Links) per instance, preview-card URL and evaluation hour (the last
  trending_evaluation_hours hours up to the reference hour: var trending_as_of, default the newest post's
  hour): expected = distinct accounts sharing the link during the previous UTC day (0 -> 1.0), observed =
  distinct accounts so far in the current UTC day up to the end of the hour; score = 0 when observed <
  trending_mastodon_min_accounts or expected > observed, else (observed - expected)^2 / expected; the peak
  of the last trending_mastodon_peak_days days decays with an 8 h half-life
  (trending_mastodon_link_half_life_hours); trending while the decayed score >= 1. Public, non-boost,
  non-deleted posts only; the card of each post's newest observation that has one.
-#}
{% set as_of = var('trending_as_of', none) %}
with

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null and not is_reblog and visibility = 'public'
),

cards as (
    select
        observations.instance_id,
        observations.payload_status_id as post_id,
        {{ json_get_text('observations.payload', ['card', 'url']) }} as url,
        row_number() over (
            partition by observations.instance_id, observations.payload_status_id
            order by observations.received_at desc, observations.event_id desc
        ) as newest_first
    from {{ ref('int_stream_events__deduped') }} as observations
    where
        observations.carries_status
        and observations.payload_type = 'object'
        and {{ json_type(json_get('observations.payload', ['card'])) }} = 'object'
),

shares as (
    select
        posts.instance_id,
        cards.url,
        posts.account_id,
        posts.created_at
    from posts
    inner join cards
        on
            posts.instance_id = cards.instance_id
            and posts.post_id = cards.post_id
            and cards.newest_first = 1
    where cards.url is not null and cards.url <> ''
),

reference as (
    {% if as_of %}
        select {{ truncate_timestamp('hour', "cast('" ~ as_of ~ "' as timestamptz)") }} as reference_hour
    {% else %}
        -- the hour of the newest post (truncating after max() lets the index on posts.created_at answer)
        select {{ truncate_timestamp('hour', 'max(all_posts.created_at)') }} as reference_hour
        from {{ ref('posts') }} as all_posts
    {% endif %}
),

candidates as (
    select distinct
        shares.instance_id,
        shares.url
    from shares
    cross join reference
    where
        shares.created_at
        >= {{ truncate_timestamp('day', hours_before('reference.reference_hour', var('trending_evaluation_hours'))) }}
        - interval '1 day'
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

counted as (
    select
        grid.instance_id,
        grid.url,
        grid.hour_ts,
        count(distinct shares.account_id) filter (
            where shares.created_at >= {{ truncate_timestamp('day', 'grid.hour_ts') }}
        ) as observed_accounts,
        count(distinct shares.account_id) filter (
            where shares.created_at < {{ truncate_timestamp('day', 'grid.hour_ts') }}
        ) as previous_day_accounts
    from grid
    inner join shares
        on
            grid.instance_id = shares.instance_id
            and grid.url = shares.url
            and shares.created_at >= {{ truncate_timestamp('day', 'grid.hour_ts') }} - interval '1 day'
            and shares.created_at < {{ hours_before('grid.hour_ts', -1) }}
    group by grid.instance_id, grid.url, grid.hour_ts
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
