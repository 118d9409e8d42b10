{#-
  Every trending method of design/trending.md, per scope (instance, or 'fediverse') x hashtag x evaluation
  hour: the last trending_evaluation_hours UTC hours up to the reference hour (var trending_as_of, default
  the newest hour of hashtag_hourly_stats). An evaluation hour h is evaluated at its end, h + 1 h. Formulas
  and their parameters are documented column by column in _trending__models.yml.
-#}
{% set as_of = var('trending_as_of', none) %}
{% set poisson_w = var('trending_poisson_window_hours') | int %}
{% set baseline_days = var('trending_poisson_baseline_days') | int %}
{% set evaluation_hours = var('trending_evaluation_hours') | int %}
{% set growth_window = (var('trending_growth_recent_hours') | int) + (var('trending_growth_baseline_hours') | int) %}
with

stats as (
    select * from {{ ref('hashtag_hourly_stats') }}
),

uses as (
    select * from {{ ref('hashtag_uses') }}
),

reference as (
    {% if as_of %}
        select {{ truncate_timestamp('hour', "cast('" ~ as_of ~ "' as timestamptz)") }} as reference_hour
    {% else %}
        select max(stats.hour_ts) as reference_hour
        from stats
    {% endif %}
),

windowed as (
    -- posts per hour of the seed's spike and window-growth methods (zero rows make the windows dense)
    select
        stats.instance_id,
        stats.hashtag_name,
        stats.hour_ts,
        stats.posts_using_tag,
        sum(stats.posts_using_tag) over (
            partition by stats.instance_id, stats.hashtag_name order by stats.hour_ts
            range between interval '{{ (var('trending_growth_recent_hours') | int) - 1 }} hours' preceding
            and current row
        ) as recent_posts,
        coalesce(sum(stats.posts_using_tag) over (
            partition by stats.instance_id, stats.hashtag_name order by stats.hour_ts
            range between
            interval '{{ growth_window - 1 }} hours'
            preceding
            and interval '{{ var('trending_growth_recent_hours') | int }} hours' preceding
        ), 0) as baseline_window_posts
    from stats
),

grid as (
    select
        windowed.*,
        reference.reference_hour
    from windowed
    cross join reference
    where
        windowed.hour_ts <= reference.reference_hour
        and windowed.hour_ts > {{ hours_before('reference.reference_hour', var('trending_evaluation_hours')) }}
),

spike as (
    select
        grid.instance_id,
        grid.hashtag_name,
        grid.hour_ts,
        coalesce(day_before.posts_using_tag, 0) as baseline_posts,
        peak.hour_ts as peak_hour
    from grid
    left join stats as day_before
        on
            grid.instance_id = day_before.instance_id
            and grid.hashtag_name = day_before.hashtag_name
            and day_before.hour_ts = {{ hours_before('grid.hour_ts', 24) }}
    left join lateral (
        select candidates.hour_ts
        from {{ ref('hashtag_hourly_stats') }} as candidates
        where
            candidates.instance_id = grid.instance_id
            and candidates.hashtag_name = grid.hashtag_name
            and candidates.hour_ts <= grid.hour_ts
            and candidates.hour_ts > {{ hours_before('grid.hour_ts', var('trending_spike_peak_lookback_hours')) }}
        order by candidates.posts_using_tag desc, candidates.hour_ts desc
        limit 1
    ) as peak on true
),

presence as (
    -- the uses the grid reads (the earliest evaluation hour's previous UTC day or baseline windows through the
    -- end of the reference hour), one row per scope, tag, UTC hour, account and server. Every window bound of
    -- the counts below is a whole UTC hour (hours before an evaluation hour, or a UTC midnight), so whether a
    -- use falls in a window depends only on its hour: counting distinct accounts of these rows is exact.
    select
        uses.scope_id,
        uses.hashtag_name,
        {{ truncate_timestamp('hour', 'uses.created_at') }} as use_hour,
        uses.account_key,
        uses.account_domain,
        bool_or(uses.is_public) as is_public,
        {% if var('trending_exclude_bots') %}bool_or(not uses.is_bot){% else %}true{% endif %} as is_counted
    from uses
    cross join reference
    where
        uses.created_at < {{ hours_before('reference.reference_hour', -1) }}
        and uses.created_at >= least(
            {{ truncate_timestamp('day', hours_before('reference.reference_hour', evaluation_hours - 1)) }}
            - interval '1 day',
            {{ hours_before('reference.reference_hour', evaluation_hours - 1 + poisson_w - 1 + 24 * baseline_days) }}
        )
    group by
        uses.scope_id,
        uses.hashtag_name,
        {{ truncate_timestamp('hour', 'uses.created_at') }},
        uses.account_key,
        uses.account_domain
),

poisson_window_accounts as (
    -- distinct accounts (bots excluded by var) of the poisson_w hours ending at each hour e (e - poisson_w + 1
    -- .. e): each presence row counts for the poisson_w window ends from its hour on. Deduplicated, then counted
    -- (hashing; count(distinct) would sort every expanded row)
    select
        windowed.scope_id,
        windowed.hashtag_name,
        windowed.window_end,
        count(windowed.account_key) as window_accounts
    from (
        select distinct
            presence.scope_id,
            presence.hashtag_name,
            presence.use_hour + window_offsets.hour_offset as window_end,
            presence.account_key
        from presence
        cross join (
            select make_interval(hours => hour_offsets.hour_count) as hour_offset
            from generate_series(0, {{ poisson_w - 1 }}) as hour_offsets (hour_count)
        ) as window_offsets
        where presence.is_counted
    ) as windowed
    group by windowed.scope_id, windowed.hashtag_name, windowed.window_end
),

poisson_window_servers as (
    -- the same for distinct servers (account domains), from the few (scope, tag, hour, server) rows
    select
        windowed.scope_id,
        windowed.hashtag_name,
        windowed.window_end,
        count(windowed.account_domain) as window_servers
    from (
        select distinct
            server_hours.scope_id,
            server_hours.hashtag_name,
            server_hours.use_hour + window_offsets.hour_offset as window_end,
            server_hours.account_domain
        from (
            select distinct
                presence.scope_id,
                presence.hashtag_name,
                presence.use_hour,
                presence.account_domain
            from presence
            where presence.is_counted
        ) as server_hours
        cross join (
            select make_interval(hours => hour_offsets.hour_count) as hour_offset
            from generate_series(0, {{ poisson_w - 1 }}) as hour_offsets (hour_count)
        ) as window_offsets
    ) as windowed
    group by windowed.scope_id, windowed.hashtag_name, windowed.window_end
),

public_first_hours as (
    -- Mastodon counts public accounts per UTC day: each account's first hour with a public use, per day
    select
        public_accounts.scope_id,
        public_accounts.hashtag_name,
        public_accounts.use_day,
        public_accounts.first_hour,
        count(public_accounts.account_key) as new_accounts
    from (
        select
            presence.scope_id,
            presence.hashtag_name,
            {{ truncate_timestamp('day', 'presence.use_hour') }} as use_day,
            presence.account_key,
            min(presence.use_hour) as first_hour
        from presence
        where presence.is_public
        group by
            presence.scope_id,
            presence.hashtag_name,
            {{ truncate_timestamp('day', 'presence.use_hour') }},
            presence.account_key
    ) as public_accounts
    group by
        public_accounts.scope_id,
        public_accounts.hashtag_name,
        public_accounts.use_day,
        public_accounts.first_hour
),

public_days as (
    -- distinct public accounts per scope, tag and UTC day
    select
        public_first_hours.scope_id,
        public_first_hours.hashtag_name,
        public_first_hours.use_day,
        cast(sum(public_first_hours.new_accounts) as bigint) as day_accounts
    from public_first_hours
    group by public_first_hours.scope_id, public_first_hours.hashtag_name, public_first_hours.use_day
),

observed as (
    -- distinct public accounts from the start of the evaluation hour's UTC day through its end
    select
        grid.instance_id,
        grid.hashtag_name,
        grid.hour_ts,
        cast(sum(public_first_hours.new_accounts) as bigint) as observed_accounts
    from grid
    inner join public_first_hours
        on
            grid.instance_id = public_first_hours.scope_id
            and grid.hashtag_name = public_first_hours.hashtag_name
            and public_first_hours.use_day = {{ truncate_timestamp('day', 'grid.hour_ts') }}
            and grid.hour_ts >= public_first_hours.first_hour
    group by grid.instance_id, grid.hashtag_name, grid.hour_ts
),

accounts as (
    -- distinct accounts of the Mastodon-compatible and Poisson methods, looked up per evaluation hour h:
    -- observed (h's UTC day through h), the previous UTC day, and the Poisson windows ending at h - 24 k h
    select
        grid.instance_id,
        grid.hashtag_name,
        grid.hour_ts,
        coalesce(observed.observed_accounts, 0) as observed_accounts,
        coalesce(previous_day.day_accounts, 0) as previous_day_accounts,
        {% for k in range(baseline_days + 1) %}
            coalesce(window_{{ k }}.window_accounts, 0) as window_accounts_{{ k }},
        {% endfor %}
        coalesce(window_servers.window_servers, 0) as window_servers
    from grid
    left join observed
        on
            grid.instance_id = observed.instance_id
            and grid.hashtag_name = observed.hashtag_name
            and grid.hour_ts = observed.hour_ts
    left join public_days as previous_day
        on
            grid.instance_id = previous_day.scope_id
            and grid.hashtag_name = previous_day.hashtag_name
            and previous_day.use_day = {{ truncate_timestamp('day', 'grid.hour_ts') }} - interval '1 day'
    {% for k in range(baseline_days + 1) %}
        left join poisson_window_accounts as window_{{ k }}
            on
                grid.instance_id = window_{{ k }}.scope_id
                and grid.hashtag_name = window_{{ k }}.hashtag_name
                and window_{{ k }}.window_end = {{ hours_before('grid.hour_ts', 24 * k) }}
    {% endfor %}
    left join poisson_window_servers as window_servers
        on
            grid.instance_id = window_servers.scope_id
            and grid.hashtag_name = window_servers.hashtag_name
            and grid.hour_ts = window_servers.window_end
),

scored as (
    select
        grid.instance_id,
        grid.hashtag_name,
        grid.hour_ts,
        grid.reference_hour,
        grid.posts_using_tag as current_posts,
        spike.baseline_posts,
        cast(grid.posts_using_tag - spike.baseline_posts as double precision)
        / (spike.baseline_posts + {{ var('trending_spike_smoothing') }}) as spike_ratio,
        spike.peak_hour as spike_peak_hour,
        {{ elapsed_seconds('spike.peak_hour', 'grid.hour_ts') }} / 3600.0 as spike_hours_since_peak,
        grid.recent_posts,
        grid.baseline_window_posts,
        cast(grid.recent_posts as double precision) / {{ var('trending_growth_recent_hours') }} as recent_rate,
        cast(grid.baseline_window_posts as double precision) / {{ var('trending_growth_baseline_hours') }}
            as baseline_rate,
        accounts.observed_accounts,
        case when accounts.previous_day_accounts = 0 then 1.0 else accounts.previous_day_accounts end
            as expected_accounts,
        accounts.window_accounts_0 as window_accounts,
        accounts.window_servers,
        cast(
            0{% for k in range(1, baseline_days + 1) %} + accounts.window_accounts_{{ k }}{% endfor %}
            as double precision
        )
        / {{ baseline_days }} + {{ var('trending_poisson_prior') }} as poisson_expected
    from grid
    inner join spike
        on
            grid.instance_id = spike.instance_id
            and grid.hashtag_name = spike.hashtag_name
            and grid.hour_ts = spike.hour_ts
    inner join accounts
        on
            grid.instance_id = accounts.instance_id
            and grid.hashtag_name = accounts.hashtag_name
            and grid.hour_ts = accounts.hour_ts
),

methods as (
    select
        scored.*,
        scored.spike_ratio * exp(-scored.spike_hours_since_peak / {{ var('trending_spike_decay_hours') }})
            as spike_score,
        case
            when scored.baseline_rate > 0 then scored.recent_rate / scored.baseline_rate
        end as growth_ratio,
        (scored.recent_rate - scored.baseline_rate)
        / greatest(scored.baseline_rate, 1.0 / {{ var('trending_growth_baseline_hours') }}) as growth_score,
        scored.recent_rate > scored.baseline_rate * {{ var('trending_growth_threshold') }}
        and scored.recent_posts >= {{ var('trending_growth_min_posts') }} as growth_is_trending,
        case
            when
                scored.observed_accounts < {{ var('trending_mastodon_min_accounts') }}
                or scored.expected_accounts > scored.observed_accounts
                then 0.0
            else power(scored.observed_accounts - scored.expected_accounts, 2) / scored.expected_accounts
        end as mastodon_score,
        (scored.window_accounts - scored.poisson_expected) / sqrt(scored.poisson_expected) as poisson_z
    from scored
),

weighted as (
    select
        methods.*,
        -- the Poisson weighted z, and the same scaled by exp((h - reference) / decay): the window maximum of the
        -- scaled value is the hour whose decayed weighted z is largest now (see peaks)
        greatest(methods.poisson_z, 0) * ln(1 + methods.window_servers) as poisson_weighted_z,
        greatest(methods.poisson_z, 0) * ln(1 + methods.window_servers)
        * exp(
            {{ elapsed_seconds('methods.reference_hour', 'methods.hour_ts') }} / 3600.0
            / {{ var('trending_poisson_decay_hours') }}
        ) as poisson_scaled
    from methods
),

peaks as (
    -- peaks by window functions: max(array[value, epoch]) is the value's maximum and its latest hour
    select
        weighted.*,
        max(array[weighted.mastodon_score, extract(epoch from weighted.hour_ts)]) filter (
            where weighted.mastodon_score > 0
        ) over (
            partition by weighted.instance_id, weighted.hashtag_name order by weighted.hour_ts
            range between interval '{{ 24 * (var('trending_mastodon_peak_days') | int) - 1 }} hours' preceding
            and current row
        ) as mastodon_peak,
        max(array[weighted.poisson_scaled, extract(epoch from weighted.hour_ts), weighted.poisson_weighted_z]) filter (
            where weighted.poisson_scaled > 0
        ) over (
            partition by weighted.instance_id, weighted.hashtag_name order by weighted.hour_ts
            range between interval '{{ (var('trending_spike_peak_lookback_hours') | int) - 1 }} hours' preceding
            and current row
        ) as poisson_peak
    from weighted
),

unpacked as (
    select
        peaks.*,
        to_timestamp(peaks.mastodon_peak[2]) as mastodon_peak_hour,
        coalesce(peaks.mastodon_peak[1], 0) as mastodon_peak_score,
        to_timestamp(peaks.poisson_peak[2]) as poisson_peak_hour,
        coalesce(
            peaks.poisson_peak[3] * exp(
                -(extract(epoch from peaks.hour_ts) - peaks.poisson_peak[2]) / 3600.0
                / {{ var('trending_poisson_decay_hours') }}
            ),
            0
        ) as poisson_peak_weighted_z
    from peaks
),

flagged as (
    select
        unpacked.*,
        unpacked.mastodon_peak_score * power(
            0.5,
            coalesce({{ elapsed_seconds('unpacked.mastodon_peak_hour', 'unpacked.hour_ts') }}, 0) / 3600.0
            / {{ var('trending_mastodon_tag_half_life_hours') }}
        ) as mastodon_decayed_score,
        unpacked.spike_score >= {{ var('trending_spike_min_score') }}
        and unpacked.current_posts >= {{ var('trending_spike_min_posts') }} as spike_is_trending,
        unpacked.poisson_peak_weighted_z >= {{ var('trending_poisson_min_score') }} as poisson_is_trending
    from unpacked
),

ranked as (
    -- ranks among the tags that trend under each method, per scope and hour
    select
        flagged.*,
        flagged.mastodon_decayed_score >= {{ var('trending_mastodon_min_decayed_score') }} as mastodon_is_trending,
        rank() over (
            partition by flagged.instance_id, flagged.hour_ts, flagged.spike_is_trending
            order by flagged.spike_score desc, flagged.hashtag_name asc
        ) as spike_position,
        rank() over (
            partition by flagged.instance_id, flagged.hour_ts, flagged.growth_is_trending
            order by flagged.growth_score desc, flagged.hashtag_name asc
        ) as growth_position,
        rank() over (
            partition by
                flagged.instance_id,
                flagged.hour_ts,
                flagged.mastodon_decayed_score >= {{ var('trending_mastodon_min_decayed_score') }}
            order by flagged.mastodon_decayed_score desc, flagged.hashtag_name asc
        ) as mastodon_position,
        rank() over (
            partition by flagged.instance_id, flagged.hour_ts, flagged.poisson_is_trending
            order by flagged.poisson_peak_weighted_z desc, flagged.hashtag_name asc
        ) as poisson_position
    from flagged
),

final as (
    select
        ranked.instance_id,
        ranked.hashtag_name,
        ranked.hour_ts as evaluation_hour,
        ranked.hour_ts + interval '1 hour' as evaluated_at,
        ranked.hour_ts = ranked.reference_hour as is_latest,
        cast(ranked.current_posts as bigint) as current_posts,
        cast(ranked.baseline_posts as bigint) as baseline_posts,
        cast(ranked.spike_ratio as double precision) as spike_ratio,
        ranked.spike_peak_hour,
        cast(ranked.spike_score as double precision) as spike_score,
        ranked.spike_is_trending,
        cast(case when ranked.spike_is_trending then ranked.spike_position end as integer) as spike_rank,
        cast(ranked.recent_posts as bigint) as recent_posts,
        cast(ranked.baseline_window_posts as bigint) as baseline_window_posts,
        cast(ranked.recent_rate as double precision) as recent_rate,
        cast(ranked.baseline_rate as double precision) as baseline_rate,
        cast(ranked.growth_ratio as double precision) as growth_ratio,
        cast(ranked.growth_score as double precision) as growth_score,
        ranked.growth_is_trending,
        cast(case when ranked.growth_is_trending then ranked.growth_position end as integer) as growth_rank,
        cast(ranked.observed_accounts as bigint) as observed_accounts,
        cast(ranked.expected_accounts as double precision) as expected_accounts,
        cast(ranked.mastodon_score as double precision) as mastodon_score,
        cast(ranked.mastodon_peak_score as double precision) as mastodon_peak_score,
        ranked.mastodon_peak_hour + interval '1 hour' as mastodon_peak_at,
        cast(ranked.mastodon_decayed_score as double precision) as mastodon_decayed_score,
        ranked.mastodon_is_trending,
        cast(case when ranked.mastodon_is_trending then ranked.mastodon_position end as integer) as mastodon_rank,
        cast(ranked.window_accounts as bigint) as window_accounts,
        cast(ranked.window_servers as bigint) as window_servers,
        cast(ranked.poisson_expected as double precision) as poisson_expected,
        cast(ranked.poisson_z as double precision) as poisson_z,
        ranked.poisson_peak_hour + interval '1 hour' as poisson_peak_at,
        cast(ranked.poisson_peak_weighted_z as double precision) as poisson_score,
        ranked.poisson_is_trending,
        cast(case when ranked.poisson_is_trending then ranked.poisson_position end as integer) as poisson_rank
    from ranked
)

select * from final
