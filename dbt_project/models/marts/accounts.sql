{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'account_id'],
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'account_id'], unique=true) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per account (account_id, instance_id): every author seen, with the profile of its most recent
  observation, plus every account only ever seen as a mention (profile fields null,
  `is_profile_observed` false), so a mention of an unknown account is never lost.

  Incremental: the accounts touched since the last run are recomputed and replace theirs: the authors of
  the observations refreshed since, the accounts mentioned by the versions refreshed since, and the
  accounts whose consent row (stg_privacy__account_consent, which changes without an event) differs from
  the consent this mart holds for them (a comparison of the two tables, one row per account: small next to
  the event log). An author's profile and last_seen_at come from its newest observation and first_seen_at
  from its first, each one probe of the (instance_id, account_id, observed_at, event_id) index of
  int_status_observations; observed_post_count is the kept count plus the posts of the refreshed
  observations that no observation the last run read has (by the (instance_id, status_id) index), when
  every refreshed observation of the account is newer than its kept last_seen_at: a new delivery that
  replaces an event's first one is never later than it, so those are new events, and the kept count holds
  every older one. Otherwise (a new author, a late or re-read observation) the posts are counted from all of
  the account's observations. A mentioned-only account comes from every version mentioning it (the GIN
  index on the ids of int_post_versions.mentions). Observations and versions are never removed, so an
  account only gains rows and is never dropped. A mentioned-only account's domain comes from its instance's
  first instance_url, read for the touched instances only: every instance_url of an instance has the host
  its instance_id is made of, so the domain does not depend on which one is first.
-#}
with

{% if is_incremental() %}
    touched_accounts as (
        select
            observations.instance_id,
            observations.account_id
        from {{ ref('int_status_observations') }} as observations
        where observations.refreshed_at > {{ last_refreshed_at() }}
        union
        select
            versions.instance_id,
            {{ json_get_text('mention.value', ['id']) }} as account_id
        from {{ ref('int_post_versions') }} as versions
        {{ json_array_rows('versions.mentions', 'mention') }}
        where versions.refreshed_at > {{ last_refreshed_at() }}
        union
        select
            consent.instance_id,
            consent.account_id
        from {{ ref('stg_privacy__account_consent') }} as consent
        inner join {{ this }} as kept
            on
                consent.instance_id = kept.instance_id
                and consent.account_id = kept.account_id
        where
            (consent.consent_status, consent.consent_reason, consent.consent_checked_at)
            is distinct from (kept.consent_status, kept.consent_reason, kept.consent_checked_at)
    ),

    -- touched accounts never seen as authors (a probe each: a lateral, whatever the estimate of the touched)
    touched_mentioned as (
        select
            touched_accounts.instance_id,
            touched_accounts.account_id
        from touched_accounts
        left join lateral (
            select true as is_author
            from {{ ref('int_status_observations') }} as observations
            where
                observations.instance_id = touched_accounts.instance_id
                and observations.account_id = touched_accounts.account_id
            limit 1 -- noqa: AM09
        ) as authored on true
        where
            touched_accounts.account_id is not null
            and authored.is_author is null
    ),

    -- what the kept row of each touched author holds, and what the observations refreshed since add to it
    refreshed_posts as (
        select
            observations.instance_id,
            observations.account_id,
            bool_and(observations.observed_at > kept.last_seen_at) as appends_only,
            count(distinct case when earlier.is_observed is null then observations.status_id end) as new_post_count
        from {{ ref('int_status_observations') }} as observations
        left join {{ this }} as kept
            on
                observations.instance_id = kept.instance_id
                and observations.account_id = kept.account_id
        -- an observation of the post by the account that the last run counted (an index probe; only where the
        -- kept count is used: an author kept with a profile whose refreshed observations are all newer)
        left join lateral (
            select true as is_observed
            from {{ ref('int_status_observations') }} as earlier
            where
                kept.is_profile_observed
                and observations.observed_at > kept.last_seen_at
                and earlier.instance_id = observations.instance_id
                and earlier.status_id = observations.status_id
                and earlier.account_id = observations.account_id
                and coalesce(earlier.refreshed_at, cast('-infinity' as timestamptz)) <= {{ last_refreshed_at() }}
            limit 1 -- noqa: AM09
        ) as earlier on true
        where observations.refreshed_at > {{ last_refreshed_at() }}
        group by observations.instance_id, observations.account_id
    ),

    authors as (
        select
            touched_accounts.instance_id,
            newest.instance_url,
            touched_accounts.account_id,
            newest.account_username as username,
            newest.account_acct as acct,
            newest.account_display_name as display_name,
            newest.account_note_html as note_html,
            newest.account_url as url,
            newest.account_uri as uri,
            newest.account_avatar_url as avatar_url,
            newest.account_is_bot as is_bot,
            newest.account_is_group as is_group,
            newest.account_is_locked as is_locked,
            newest.account_is_discoverable as is_discoverable,
            newest.account_created_at,
            newest.account_last_status_at as last_status_at,
            newest.account_followers_count as followers_count,
            newest.account_following_count as following_count,
            newest.account_statuses_count as statuses_count,
            newest.account_fields as fields,
            true as is_profile_observed,
            case
                when kept.is_profile_observed and coalesce(refreshed_posts.appends_only, true)
                    then kept.observed_post_count + coalesce(refreshed_posts.new_post_count, 0)
                else (
                    select count(distinct observations.status_id)
                    from {{ ref('int_status_observations') }} as observations
                    where
                        observations.instance_id = touched_accounts.instance_id
                        and observations.account_id = touched_accounts.account_id
                )
            end as observed_post_count,
            (
                select min(observations.observed_at)
                from {{ ref('int_status_observations') }} as observations
                where
                    observations.instance_id = touched_accounts.instance_id
                    and observations.account_id = touched_accounts.account_id
            ) as first_seen_at,
            newest.observed_at as last_seen_at
        from touched_accounts
        -- the newest observation (none for an account only ever mentioned), by the recency index
        cross join
            lateral (
                select observations.*
                from {{ ref('int_status_observations') }} as observations
                where
                    observations.instance_id = touched_accounts.instance_id
                    and observations.account_id = touched_accounts.account_id
                order by observations.observed_at desc, observations.event_id desc
                limit 1
            ) as newest
        left join {{ this }} as kept
            on
                touched_accounts.instance_id = kept.instance_id
                and touched_accounts.account_id = kept.account_id
        left join refreshed_posts
            on
                touched_accounts.instance_id = refreshed_posts.instance_id
                and touched_accounts.account_id = refreshed_posts.account_id
    ),
{% else %}
    author_observations as (
        select
            observations.*,
            row_number() over (
                partition by observations.instance_id, observations.account_id
                order by observations.observed_at desc, observations.event_id desc
            ) as recency_rank,
            min(observations.observed_at) over (
                partition by observations.instance_id, observations.account_id
            ) as first_seen_at,
            max(observations.observed_at) over (
                partition by observations.instance_id, observations.account_id
            ) as last_seen_at
        from {{ ref('int_status_observations') }} as observations
    ),

    authored_posts as (
        select
            observations.instance_id,
            observations.account_id,
            count(distinct observations.status_id) as observed_post_count
        from {{ ref('int_status_observations') }} as observations
        group by observations.instance_id, observations.account_id
    ),

    authors as (
        select
            author_observations.instance_id,
            author_observations.instance_url,
            author_observations.account_id,
            author_observations.account_username as username,
            author_observations.account_acct as acct,
            author_observations.account_display_name as display_name,
            author_observations.account_note_html as note_html,
            author_observations.account_url as url,
            author_observations.account_uri as uri,
            author_observations.account_avatar_url as avatar_url,
            author_observations.account_is_bot as is_bot,
            author_observations.account_is_group as is_group,
            author_observations.account_is_locked as is_locked,
            author_observations.account_is_discoverable as is_discoverable,
            author_observations.account_created_at,
            author_observations.account_last_status_at as last_status_at,
            author_observations.account_followers_count as followers_count,
            author_observations.account_following_count as following_count,
            author_observations.account_statuses_count as statuses_count,
            author_observations.account_fields as fields,
            true as is_profile_observed,
            authored_posts.observed_post_count,
            author_observations.first_seen_at,
            author_observations.last_seen_at
        from author_observations
        inner join authored_posts
            on
                author_observations.instance_id = authored_posts.instance_id
                and author_observations.account_id = authored_posts.account_id
        where author_observations.recency_rank = 1
    ),
{% endif %}

mention_rows as (
    select
        versions.instance_id,
        {{ json_get_text('mention.value', ['id']) }} as account_id,
        {{ json_get_text('mention.value', ['username']) }} as username,
        {{ json_get_text('mention.value', ['acct']) }} as acct,
        {{ json_get_text('mention.value', ['url']) }} as url,
        versions.first_observed_at,
        versions.last_observed_at
    {% if is_incremental() %}
        -- every version mentioning each touched account, by the GIN index on the mentions' ids (a lateral:
        -- offset 0 keeps it from being flattened into a join the planner may make a scan of every version)
        from touched_mentioned
        cross join
            lateral (
                select
                    versions.instance_id,
                    versions.mentions,
                    versions.first_observed_at,
                    versions.last_observed_at
                from {{ ref('int_post_versions') }} as versions
                where
                    versions.instance_id = touched_mentioned.instance_id
                    and {{ json_array_has_id('versions.mentions', 'touched_mentioned.account_id') }}
                offset 0 -- noqa: AM09
            ) as versions
        {{ json_array_rows('versions.mentions', 'mention') }}
        where {{ json_get_text('mention.value', ['id']) }} = touched_mentioned.account_id
    {% else %}
        from {{ ref('int_post_versions') }} as versions
        {{ json_array_rows('versions.mentions', 'mention') }}
    {% endif %}
),

mentioned_only as (
    select
        mention_rows.instance_id,
        mention_rows.account_id,
        mention_rows.username,
        mention_rows.acct,
        mention_rows.url,
        row_number() over (
            partition by mention_rows.instance_id, mention_rows.account_id
            order by mention_rows.last_observed_at desc, mention_rows.acct asc, mention_rows.url asc
        ) as recency_rank,
        min(mention_rows.first_observed_at) over (
            partition by mention_rows.instance_id, mention_rows.account_id
        ) as first_seen_at,
        max(mention_rows.last_observed_at) over (
            partition by mention_rows.instance_id, mention_rows.account_id
        ) as last_seen_at
    from mention_rows
    where
        mention_rows.account_id is not null
        and not exists (
            select 1
            from authors
            where
                authors.instance_id = mention_rows.instance_id
                and authors.account_id = mention_rows.account_id
        )
),

instance_urls as (
    {% if is_incremental() %}
        -- the first instance_url of each touched instance, by the (instance_id, instance_url) index
        select
            touched_instances.instance_id,
            (
                select min(events.instance_url)
                from {{ ref('int_stream_events__deduped') }} as events
                where events.instance_id = touched_instances.instance_id
            ) as instance_url
        from (select distinct touched_mentioned.instance_id from touched_mentioned) as touched_instances
    {% else %}
        select distinct
            instance_id,
            instance_url
        from {{ ref('int_stream_events__deduped') }}
    {% endif %}
),

mentioned as (
    select
        mentioned_only.instance_id,
        instance_urls.instance_url,
        mentioned_only.account_id,
        mentioned_only.username,
        mentioned_only.acct,
        cast(null as text) as display_name,
        cast(null as text) as note_html,
        mentioned_only.url,
        cast(null as text) as uri,
        cast(null as text) as avatar_url,
        cast(null as boolean) as is_bot,
        cast(null as boolean) as is_group,
        cast(null as boolean) as is_locked,
        cast(null as boolean) as is_discoverable,
        cast(null as timestamptz) as account_created_at,
        cast(null as date) as last_status_at,
        cast(null as bigint) as followers_count,
        cast(null as bigint) as following_count,
        cast(null as bigint) as statuses_count,
        cast(null as {{ json_type_name() }}) as fields,
        false as is_profile_observed,
        cast(0 as bigint) as observed_post_count,
        mentioned_only.first_seen_at,
        mentioned_only.last_seen_at
    from mentioned_only
    left join (
        select
            instance_id,
            min(instance_url) as instance_url
        from instance_urls
        group by instance_id
    ) as instance_urls
        on mentioned_only.instance_id = instance_urls.instance_id
    where mentioned_only.recency_rank = 1
),

all_accounts as (
    select * from authors
    union all
    select * from mentioned
),

-- consent recorded at load time (extract/consent.py): an opted-out account keeps no name, bio or fields
consented as (
    select
        all_accounts.*,
        coalesce(consent.consent_status, 'unknown') as consent_status,
        consent.consent_reason,
        consent.consent_checked_at
    from all_accounts
    left join {{ ref('stg_privacy__account_consent') }} as consent
        on
            all_accounts.instance_id = consent.instance_id
            and all_accounts.account_id = consent.account_id
),

final as (
    select
        account_id,
        instance_id,
        username,
        acct,
        case
            when position('@' in acct) > 0 then lower(split_part(acct, '@', 2))
            else {{ url_host('instance_url') }}
        end as domain,
        position('@' in coalesce(acct, '')) = 0 as is_local,
        case when consent_status = 'opted_out' then '' else display_name end as display_name,
        case when consent_status = 'opted_out' then '' else note_html end as note_html,
        case when consent_status = 'opted_out' then '' else {{ html_to_text('note_html') }} end as note_text,
        url,
        uri,
        avatar_url,
        is_bot,
        is_group,
        is_locked,
        is_discoverable,
        account_created_at,
        last_status_at,
        followers_count,
        following_count,
        statuses_count,
        case when consent_status = 'opted_out' then cast('[]' as jsonb) else fields end as fields,
        is_profile_observed,
        observed_post_count,
        first_seen_at,
        last_seen_at,
        consent_status,
        consent_reason,
        consent_checked_at,
        {{ run_started_timestamptz() }} as refreshed_at
    from consented
)

select * from final
