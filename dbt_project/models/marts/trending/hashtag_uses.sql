{{
    config(
        materialized='incremental',
        unique_key=['scope_id', 'post_key'],
        incremental_strategy='delete+insert',
        pre_hook="{{ forkalytics.hash_joins_only() }}",
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "create index if not exists {{ this.identifier }}_key_idx on {{ this }} (scope_id, post_key)",
            "{{ forkalytics.lookup_index('author', ['scope_id', 'account_key']) }}",
            "{{ forkalytics.lookup_index('post', ['instance_id', 'post_id']) }}",
            "delete from {{ this }} where refreshed_at = {{ forkalytics.run_started_timestamptz() }}
            and hashtag_name = ''",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per use of a hashtag, the input of hashtag_hourly_stats and the trending marts, in two scopes:
  `scope_id` = the instance (one row per post of the instance using the tag), and `scope_id` = 'fediverse'
  (posts seen by several monitored instances counted once, on their uri; the account is identified by its
  uri). Uses are the tags of the post's current version; boosts and deleted posts are left out.

  Incremental (delete+insert by scope and post key): the posts touched since the last run are those whose
  versions, deletion or observations were refreshed (int_post_versions, int_status_deletes,
  int_status_observations), and every post of an account observed since then whose profile no longer
  matches what its uses hold (is_bot, domain, uri or acct: the uses kept are compared, by index, with
  accounts; nearly every account is observed each hour, few change). Their instance-scope
  rows are recomputed, and the fediverse rows of their uris from every copy of the uri on any instance. Each
  touched key also gets a row with hashtag_name '' that replaces its old rows when it has no use any more
  (deleted, boost, tags removed); the post-hook deletes those rows.
-#}
-- depends_on: {{ ref('int_post_versions') }}
-- depends_on: {{ ref('int_status_deletes') }}
-- depends_on: {{ ref('int_status_observations') }}
with

{% if is_incremental() %}
    changed_posts as (
        {{ changed_posts() }}
    ),

    -- the authors observed since the last run, with the profile values a use carries (as instance_uses below)
    observed_authors as (
        select
            author_rows.instance_id,
            author_rows.account_id,
            coalesce(account_rows.domain, author_rows.instance_id) as account_domain,
            coalesce(account_rows.is_bot, false) as is_bot,
            coalesce(
                account_rows.uri,
                account_rows.acct || '@' || account_rows.domain,
                author_rows.instance_id || ':' || author_rows.account_id
            ) as account_global_key
        from (
            select distinct
                observations.instance_id,
                observations.account_id
            from {{ ref('int_status_observations') }} as observations
            where observations.refreshed_at > {{ last_refreshed_at() }}
        ) as author_rows
        left join {{ ref('accounts') }} as account_rows
            on
                author_rows.instance_id = account_rows.instance_id
                and author_rows.account_id = account_rows.account_id
    ),

    -- their uses kept in the instance scope (by the (scope_id, account_key) index) ...
    kept_author_uses as (
        select
            kept.instance_id,
            kept.account_key as account_id,
            kept.post_id,
            kept.hashtag_name,
            kept.account_domain,
            kept.is_bot
        from {{ this }} as kept
        where {{ touched_keys_filter('kept.scope_id', 'kept.account_key', 'observed_authors', 'account_id') }}
    ),

    -- ... and the fediverse uses taken from their posts (by the (instance_id, post_id) index)
    kept_author_copies as (
        select
            kept.instance_id,
            kept.post_id,
            kept.hashtag_name,
            kept.account_key,
            kept.account_domain,
            kept.is_bot
        from {{ this }} as kept
        where
            {{ touched_keys_filter('kept.instance_id', 'kept.post_id', 'kept_author_uses', 'post_id') }}
            and kept.scope_id = 'fediverse'
    ),

    -- the authors whose profile changed what their uses carry (is_bot, domain, uri or acct): a use kept
    -- differs from it
    changed_accounts as (
        select
            uses.instance_id,
            uses.account_id
        from kept_author_uses as uses
        inner join observed_authors as author_rows
            on
                uses.instance_id = author_rows.instance_id
                and uses.account_id = author_rows.account_id
        where (uses.account_domain, uses.is_bot) is distinct from (author_rows.account_domain, author_rows.is_bot)
        union
        select
            uses.instance_id,
            uses.account_id
        from kept_author_uses as uses
        inner join observed_authors as author_rows
            on
                uses.instance_id = author_rows.instance_id
                and uses.account_id = author_rows.account_id
        inner join kept_author_copies as copies
            on
                uses.instance_id = copies.instance_id
                and uses.post_id = copies.post_id
                and uses.hashtag_name = copies.hashtag_name
        where
            (copies.account_key, copies.account_domain, copies.is_bot)
            is distinct from (author_rows.account_global_key, author_rows.account_domain, author_rows.is_bot)
    ),

    -- the changed posts and every post of a changed account, read by index (key arrays: no nested loop; a
    -- union, as the arrays are index conditions only: in a filter each row would search them linearly)
    touched_posts as (
        select
            all_posts.instance_id,
            all_posts.post_id,
            coalesce(all_posts.uri, all_posts.instance_id || ':' || all_posts.post_id) as uri_key
        from {{ ref('posts') }} as all_posts
        inner join changed_posts
            on
                all_posts.instance_id = changed_posts.instance_id
                and all_posts.post_id = changed_posts.post_id
        where {{ touched_keys_filter('all_posts.instance_id', 'all_posts.post_id', 'changed_posts', 'post_id') }}
        union
        select
            all_posts.instance_id,
            all_posts.post_id,
            coalesce(all_posts.uri, all_posts.instance_id || ':' || all_posts.post_id) as uri_key
        from {{ ref('posts') }} as all_posts
        inner join changed_accounts
            on
                all_posts.instance_id = changed_accounts.instance_id
                and all_posts.account_id = changed_accounts.account_id
        where
            {{ touched_keys_filter('all_posts.instance_id', 'all_posts.account_id', 'changed_accounts',
                                   'account_id') }}
    ),

{% endif %}

posts as (
    select * from {{ ref('posts') }}
    where
        deleted_at is null and not is_reblog
        {% if is_incremental() %}
            -- the touched posts and every copy of their uris (read by the uri index; posts without a uri are
            -- candidates too, their key being made of instance and post id)
            and (uri = any(array(select touched_posts.uri_key from touched_posts)) or uri is null)
            and coalesce(uri, instance_id || ':' || post_id) in (select touched_posts.uri_key from touched_posts)
        {% endif %}
),

post_hashtags as (
    select * from {{ ref('post_hashtags') }} as post_hashtags
    {% if is_incremental() %}
        -- the tags of those posts only, by the (instance_id, post_id) index
        where {{ touched_keys_filter('post_hashtags.instance_id', 'post_hashtags.post_id', 'posts', 'post_id') }}
    {% endif %}
),

accounts as (
    select * from {{ ref('accounts') }}
),

instance_uses as (
    select
        posts.instance_id as scope_id,
        posts.instance_id,
        post_hashtags.hashtag_name,
        posts.post_id as post_key,
        posts.post_id,
        posts.uri,
        posts.account_id as account_key,
        coalesce(accounts.domain, posts.instance_id) as account_domain,
        posts.created_at,
        posts.visibility = 'public' as is_public,
        coalesce(accounts.is_bot, false) as is_bot,
        posts.engagement_score,
        coalesce(accounts.uri, accounts.acct || '@' || accounts.domain, posts.instance_id || ':' || posts.account_id)
            as account_global_key,
        greatest(posts.last_seen_at, posts.metrics_observed_at) as changed_at
    from post_hashtags
    inner join posts
        on
            post_hashtags.instance_id = posts.instance_id
            and post_hashtags.post_id = posts.post_id
    left join accounts
        on
            posts.instance_id = accounts.instance_id
            and posts.account_id = accounts.account_id
),

fediverse_ranked as (
    select
        instance_uses.*,
        row_number() over (
            partition by
                coalesce(instance_uses.uri, instance_uses.instance_id || ':' || instance_uses.post_id),
                instance_uses.hashtag_name
            order by instance_uses.engagement_score desc, instance_uses.instance_id asc
        ) as copy_rank
    from instance_uses
),

final as (
    select
        scope_id,
        instance_id,
        hashtag_name,
        post_key,
        post_id,
        account_key,
        account_domain,
        created_at,
        is_public,
        is_bot,
        cast(engagement_score as double precision) as engagement_score,
        changed_at
    from instance_uses
    {% if is_incremental() %}
        -- only the touched posts in the instance scope (the other copies of their uris are read for the fediverse)
        where
            exists (
                select 1 from touched_posts
                where
                    instance_uses.instance_id = touched_posts.instance_id
                    and instance_uses.post_id = touched_posts.post_id
            )
    {% endif %}
    union all
    select
        'fediverse' as scope_id,
        instance_id,
        hashtag_name,
        coalesce(uri, instance_id || ':' || post_id) as post_key,
        post_id,
        account_global_key as account_key,
        account_domain,
        created_at,
        is_public,
        is_bot,
        cast(engagement_score as double precision) as engagement_score,
        changed_at
    from fediverse_ranked
    where copy_rank = 1
    {% if is_incremental() %}
        -- the rows that replace a touched key's old rows (deleted by the post-hook)
        union all
        select distinct
            touched_posts.instance_id as scope_id,
            touched_posts.instance_id,
            '' as hashtag_name,
            touched_posts.post_id as post_key,
            touched_posts.post_id,
            cast(null as text) as account_key,
            cast(null as text) as account_domain,
            cast(null as timestamptz) as created_at,
            cast(null as boolean) as is_public,
            cast(null as boolean) as is_bot,
            cast(null as double precision) as engagement_score,
            cast(null as timestamptz) as changed_at
        from touched_posts
        union all
        select distinct
            'fediverse' as scope_id,
            '' as instance_id,
            '' as hashtag_name,
            touched_posts.uri_key as post_key,
            cast(null as text) as post_id,
            cast(null as text) as account_key,
            cast(null as text) as account_domain,
            cast(null as timestamptz) as created_at,
            cast(null as boolean) as is_public,
            cast(null as boolean) as is_bot,
            cast(null as double precision) as engagement_score,
            cast(null as timestamptz) as changed_at
        from touched_posts
    {% endif %}
)

select
    *,
    {{ run_started_timestamptz() }} as refreshed_at
from final
