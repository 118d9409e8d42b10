{#-
  One row per account mentioned by a post's current version. A mention of an account never seen as an
  author is kept (the previous system dropped the whole post); accounts lists it with
  is_profile_observed = false. Rows of deleted posts are kept.
-#}
with

mention_rows as (
    select
        versions.instance_id,
        versions.post_id,
        {{ json_get_text('mention.value', ['id']) }} as mentioned_account_id,
        {{ json_get_text('mention.value', ['acct']) }} as acct,
        {{ json_get_text('mention.value', ['username']) }} as username,
        {{ json_get_text('mention.value', ['url']) }} as url,
        mention.ordinal
    from {{ ref('int_post_versions') }} as versions
    {{ json_array_rows('versions.mentions', 'mention') }}
    where versions.is_current
),

ranked as (
    select
        mention_rows.*,
        row_number() over (
            partition by mention_rows.instance_id, mention_rows.post_id, mention_rows.mentioned_account_id
            order by mention_rows.ordinal
        ) as mention_rank
    from mention_rows
),

final as (
    select
        instance_id,
        post_id,
        mentioned_account_id,
        acct,
        username,
        url,
        position('@' in coalesce(acct, '')) = 0 as is_local_account,
        cast(ordinal as integer) as position
    from ranked
    where mention_rank = 1
)

select * from final
