{#-
  The keys an incremental mart recomputes in a run, for the marts where a key can lose all of its rows
  (an account whose every observed post is deleted, a thread whose root gets a parent, a post whose edit
  drops its last hashtag): delete+insert replaces only the keys the new rows have, so the model's pre-hook
  `delete_touched_keys` first deletes every touched key, and the model inserts what the keys hold now.
  One macro per mart, used by the model (to select what to recompute) and by its pre-hook; both read the
  same watermark (last_refreshed_at: the pre-hook runs before anything is written).
-#}
{% macro delete_touched_keys(key_columns, touched_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as kept
        where ({% for column in key_columns %}kept.{{ column }}{{ ', ' if not loop.last }}{% endfor %}) in (
            select {{ key_columns | join(', ') }} from ({{ touched_sql }}) as touched
        )
    {%- endif -%}
{%- endmacro %}

{#-
  account_history: the accounts recomputed by marts.accounts since the last run (authors of refreshed
  observations, accounts whose consent changed: an opt-out blanks the profile upstream without refreshing
  it), the authors of refreshed observations, and the authors of posts whose delete was refreshed (their
  observations leave the history).
-#}
{% macro account_history_touched_accounts() -%}
    select
        accounts.instance_id,
        accounts.account_id
    from {{ ref('accounts') }} as accounts
    where accounts.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        observations.instance_id,
        observations.account_id
    from {{ ref('int_status_observations') }} as observations
    where observations.refreshed_at > {{ forkalytics.last_refreshed_at() }}
    union
    select
        observations.instance_id,
        observations.account_id
    from {{ ref('int_status_deletes') }} as deletes
    inner join {{ ref('int_status_observations') }} as observations
        on
            deletes.instance_id = observations.instance_id
            and deletes.status_id = observations.status_id
    where deletes.refreshed_at > {{ forkalytics.last_refreshed_at() }}
{%- endmacro %}
