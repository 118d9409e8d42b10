{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'account_id'],
        incremental_strategy='delete+insert',
        pre_hook="{{ forkalytics.delete_touched_keys(['instance_id', 'account_id'],
            forkalytics.account_history_touched_accounts()) }}",
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['instance_id', 'account_id', 'version_seq']) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  SCD2 history of account profiles (username, acct, display name, note, avatar, url, bot/group/locked/
  discoverable flags, profile fields), built from every observation of the account as a post author
  (not a dbt snapshot, so changes between two runs are all kept). Counts (followers, statuses) change
  constantly and are not part of a profile version. A profile that changes back is a new version.
  Observations from posts that were later deleted are left out: the profile they show is part of the
  deleted content (redacted in raw), so an incremental run and a full refresh agree.

  Incremental: the accounts touched since the last run (macros/touched_keys.sql: refreshed observations,
  deletes of their posts, accounts recomputed by marts.accounts, which include consent changes) are
  recomputed from all of their observations (read per account, by the (instance_id, account_id, observed_at,
  event_id) index of int_status_observations); the pre-hook deletes their rows first, so an account left
  without history (its every post deleted) loses its rows.
-#}
with

{% if is_incremental() %}
    touched_accounts as (
        {{ account_history_touched_accounts() }}
    ),
{% endif %}

observations as (
    select
        observations.*,
        lag(observations.account_profile_key) over (
            partition by observations.instance_id, observations.account_id
            order by observations.observed_at, observations.event_id
        ) as previous_profile_key
    {% if is_incremental() %}
        -- each touched account's observations by the (instance_id, account_id, ...) index: a lateral (offset 0
        -- keeps it from being flattened into a join the planner, misestimating the touched, made a scan of all)
        from touched_accounts
        cross join lateral (
            select observations.*
            from {{ ref('int_status_observations') }} as observations
            where
                observations.instance_id = touched_accounts.instance_id
                and observations.account_id = touched_accounts.account_id
            offset 0 -- noqa: AM09
        ) as observations
    {% else %}
        from {{ ref('int_status_observations') }} as observations
    {% endif %}
    -- the author as shown on a deleted post is deleted content (the loader blanks it in raw): not history
    where not exists (
            select 1
            from {{ ref('int_status_deletes') }} as deletes
            where
                deletes.instance_id = observations.instance_id
                and deletes.status_id = observations.status_id
        )
),

changes as (
    select
        observations.*,
        sum(
            case
                when
                    observations.previous_profile_key is null
                    or observations.previous_profile_key <> observations.account_profile_key
                    then 1
                else 0
            end
        ) over (
            partition by observations.instance_id, observations.account_id
            order by observations.observed_at, observations.event_id
            rows between unbounded preceding and current row
        ) as version_seq
    from observations
),

versions as (
    select
        changes.*,
        row_number() over (
            partition by changes.instance_id, changes.account_id, changes.version_seq
            order by changes.observed_at, changes.event_id
        ) as observation_rank,
        count(*) over (
            partition by changes.instance_id, changes.account_id, changes.version_seq
        ) as observation_count,
        max(changes.version_seq) over (
            partition by changes.instance_id, changes.account_id
        ) as version_count
    from changes
),

final as (
    select
        {{ hash_key(['instance_id', 'account_id', 'version_seq']) }} as account_version_id,
        account_id,
        instance_id,
        cast(version_seq as integer) as version_seq,
        observed_at as valid_from,
        lead(observed_at) over (
            partition by instance_id, account_id order by version_seq
        ) as valid_to,
        version_seq = version_count as is_current,
        account_username as username,
        account_acct as acct,
        account_display_name as display_name,
        account_note_html as note_html,
        account_url as url,
        account_avatar_url as avatar_url,
        account_is_bot as is_bot,
        account_is_group as is_group,
        account_is_locked as is_locked,
        account_is_discoverable as is_discoverable,
        account_fields as fields,
        account_profile_key as profile_hash,
        cast(observation_count as integer) as observation_count,
        {{ run_started_timestamptz() }} as refreshed_at
    from versions
    where observation_rank = 1
)

select * from final
