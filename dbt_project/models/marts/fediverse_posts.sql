{{
    config(
        materialized='incremental',
        unique_key='uri',
        incremental_strategy='delete+insert',
        post_hook=[
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.lookup_index('key', ['uri'], unique=true) }}",
        ],
        on_schema_change='append_new_columns',
    )
}}
{#-
  One row per post across all monitored instances, by `uri` (its federation-wide identity; each instance
  gives the same post its own local id). Counts come from the origin instance when it is monitored
  (where the author is local), otherwise the highest seen (remote copies lag behind). A post counts as
  deleted when any monitored instance reported it deleted; its text is then redacted. Boosts excluded.

  Incremental: the uris of the posts refreshed in marts.posts since the last run (including the rows its
  privacy hook blanked) are recomputed from every copy of them (the posts uri index). A post's uri and
  whether it is a boost never change, so a uri never loses all of its copies.
-#}
with

{% if is_incremental() %}
    touched_uris as (
        select distinct posts.uri
        from {{ ref('posts') }} as posts
        where posts.refreshed_at > {{ last_refreshed_at() }} and posts.uri is not null
    ),
{% endif %}

copies as (
    select
        posts.*,
        position('@' in coalesce(posts.account_acct, '')) = 0 as is_origin,
        row_number() over (
            partition by posts.uri
            order by
                case when position('@' in coalesce(posts.account_acct, '')) = 0 then 0 else 1 end,
                posts.last_seen_at desc,
                posts.instance_id asc
        ) as preference_rank
    from {{ ref('posts') }} as posts
    {% if is_incremental() %}
        inner join touched_uris on posts.uri = touched_uris.uri
    {% endif %}
    where posts.uri is not null and not posts.is_reblog
),

per_uri as (
    select
        uri,
        count(*) as instance_count,
        {{ json_array_agg('instance_id', 'instance_id') }} as instance_ids,
        max(case when is_origin then instance_id end) as origin_instance_id,
        min(created_at) as created_at,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        max(replies_count) as max_replies_count,
        max(reblogs_count) as max_reblogs_count,
        max(favourites_count) as max_favourites_count,
        min(deleted_at) as deleted_at
    from copies
    group by uri
),

preferred as (
    select * from copies
    where preference_rank = 1
),

final as (
    select
        per_uri.uri,
        preferred.url,
        per_uri.origin_instance_id,
        cast(per_uri.instance_count as integer) as instance_count,
        per_uri.instance_ids,
        case
            when preferred.is_origin then preferred.account_acct || '@' || preferred.instance_id
            else preferred.account_acct
        end as account_acct,
        per_uri.created_at,
        preferred.language,
        {{ redacted('preferred.content_text', 'per_uri.deleted_at') }} as content_text,
        case when preferred.is_origin then preferred.replies_count else per_uri.max_replies_count end
            as replies_count,
        case when preferred.is_origin then preferred.reblogs_count else per_uri.max_reblogs_count end
            as reblogs_count,
        case when preferred.is_origin then preferred.favourites_count else per_uri.max_favourites_count end
            as favourites_count,
        {{ engagement_score(
            'case when preferred.is_origin then preferred.reblogs_count else per_uri.max_reblogs_count end',
            'case when preferred.is_origin then preferred.favourites_count else per_uri.max_favourites_count end',
            'case when preferred.is_origin then preferred.replies_count else per_uri.max_replies_count end'
        ) }} as engagement_score,
        per_uri.first_seen_at,
        per_uri.last_seen_at,
        per_uri.deleted_at,
        per_uri.deleted_at is not null as is_deleted,
        {{ run_started_timestamptz() }} as refreshed_at
    from per_uri
    inner join preferred on per_uri.uri = preferred.uri
)

select * from final
