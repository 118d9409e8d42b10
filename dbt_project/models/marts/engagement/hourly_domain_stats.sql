{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'hour_ts'],
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "delete from {{ this }} where refreshed_at = {{ forkalytics.run_started_timestamptz() }} and posts = 0",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  The seed's scheduled aggregate: posts and engagement per instance, author domain (the account's home
  server) and UTC hour of creation. Boosts and deleted posts are left out; only hours with posts are rows.

  Incremental (delete+insert by instance and hour, every domain of the hour at once): the hours recomputed
  are those of the posts whose versions, deletion or observations were refreshed since the last run (every
  creation time any of their observations reports, so the hour a post was counted in before is among
  them). A recomputed hour left without posts is written as one row with posts = 0, which replaces the
  hour's old rows and is deleted by the post-hook. An author's domain comes from its acct (user@domain, or
  the instance's host for a local account), which never changes for an account id, so a change of account
  attributes cannot move a post to another domain.
-#}
-- depends_on: {{ ref('int_post_versions') }}
-- depends_on: {{ ref('int_status_deletes') }}
-- depends_on: {{ ref('int_status_observations') }}
with

posts as (
    select * from {{ ref('posts') }}
    where deleted_at is null and not is_reblog
),

accounts as (
    select * from {{ ref('accounts') }}
),

{% if is_incremental() %}
    changed_posts as (
        {{ changed_posts() }}
    ),

    touched_hours as (
        select distinct
            observations.instance_id,
            {{ truncate_timestamp('hour', 'observations.created_at') }} as hour_ts
        from {{ ref('int_status_observations') }} as observations
        inner join changed_posts
            on
                observations.instance_id = changed_posts.instance_id
                and observations.status_id = changed_posts.post_id
        where observations.created_at is not null
    ),
{% endif %}

counted as (
    select
        posts.instance_id,
        coalesce(accounts.domain, posts.instance_id) as domain,
        {{ truncate_timestamp('hour', 'posts.created_at') }} as hour_ts,
        cast(count(*) as bigint) as posts,
        cast(count(distinct posts.account_id) as bigint) as distinct_accounts,
        cast(coalesce(sum(posts.reblogs_count), 0) as bigint) as boosts_received,
        cast(coalesce(sum(posts.replies_count), 0) as bigint) as replies_received,
        cast(coalesce(sum(posts.favourites_count), 0) as bigint) as favourites_received,
        cast(coalesce(sum(posts.engagement_score), 0) as double precision) as total_engagement,
        cast(avg(cast(posts.engagement_score as numeric)) as double precision) as avg_engagement
    from posts
    left join accounts
        on
            posts.instance_id = accounts.instance_id
            and posts.account_id = accounts.account_id
    {% if is_incremental() %}
        inner join touched_hours
            on
                posts.instance_id = touched_hours.instance_id
                and {{ truncate_timestamp('hour', 'posts.created_at') }} = touched_hours.hour_ts
        where posts.created_at >= (select min(earliest.hour_ts) from touched_hours as earliest)
    {% endif %}
    group by
        posts.instance_id,
        coalesce(accounts.domain, posts.instance_id),
        {{ truncate_timestamp('hour', 'posts.created_at') }}
),

final as (
    select
        *,
        {{ run_started_timestamptz() }} as refreshed_at
    from counted
    {% if is_incremental() %}
        -- the recomputed hours left without posts: one row that replaces the old ones (post-hook deletes it)
        union all
        select
            touched_hours.instance_id,
            touched_hours.instance_id as domain,
            touched_hours.hour_ts,
            cast(0 as bigint) as posts,
            cast(0 as bigint) as distinct_accounts,
            cast(0 as bigint) as boosts_received,
            cast(0 as bigint) as replies_received,
            cast(0 as bigint) as favourites_received,
            cast(0 as double precision) as total_engagement,
            cast(null as double precision) as avg_engagement,
            {{ run_started_timestamptz() }} as refreshed_at
        from touched_hours
        where
            not exists (
                select 1 from counted
                where counted.instance_id = touched_hours.instance_id and counted.hour_ts = touched_hours.hour_ts
            )
    {% endif %}
)

select * from final
