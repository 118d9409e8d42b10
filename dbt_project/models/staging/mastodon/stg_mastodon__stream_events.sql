{#-
  One row per raw event as received (duplicates included: the intermediate layer drops them), typed and
  with the Status fields extracted from the JSON payload. Every cast of payload data is guarded: a value
  that does not parse becomes null and the row carries `parse_error` (the event cannot be applied) or
  `parse_warning` (a field was ignored), never a failed build.
-#}
with

source_events as (
    select * from {{ source('mastodon_raw', 'stream_events') }}
),

typed as (
    select
        cast(event_id as text) as event_id,
        cast(instance_id as text) as instance_id,
        cast(instance_url as text) as instance_url,
        cast(stream as text) as stream,
        cast(source as text) as event_source,
        cast(event_type as text) as event_type,
        received_at,
        cast(_dlt_load_id as text) as dlt_load_id,
        coalesce({{ dlt_load_id_to_timestamptz('_dlt_load_id') }}, received_at) as loaded_at,
        cast(batch_key as text) as batch_key,
        payload,
        cast(payload_status_id as text) as payload_status_id,
        cast(payload_error as text) as payload_error,
        coalesce(payload_escaped, false) as payload_escaped,
        {{ json_type('payload') }} as payload_type,
        event_type in ('update', 'status.update', 'poll') as carries_status,
        event_type in ('delete', 'poll.missing') as carries_status_id,
        event_type in ('update', 'status.update', 'poll', 'delete', 'poll.missing') as is_known_event_type
    from source_events
),

extracted as (
    select
        typed.*,
        case
            when typed.payload_escaped then null
            when typed.carries_status and typed.payload_type = 'object'
                then {{ json_get_text('typed.payload', ['id']) }}
            when typed.carries_status_id and typed.payload_type in ('string', 'number')
                then {{ json_scalar_text('typed.payload') }}
        end as raw_status_id,
        {{ json_get_text('typed.payload', ['uri']) }} as uri,
        {{ json_get_text('typed.payload', ['url']) }} as url,
        {{ json_get_text('typed.payload', ['created_at']) }} as raw_created_at,
        {{ json_get_text('typed.payload', ['edited_at']) }} as raw_edited_at,
        {{ json_get_text('typed.payload', ['content']) }} as content_html,
        coalesce({{ json_get_text('typed.payload', ['spoiler_text']) }}, '') as spoiler_text,
        {{ json_get_text('typed.payload', ['sensitive']) }} as raw_sensitive,
        {{ json_get_text('typed.payload', ['visibility']) }} as raw_visibility,
        {{ json_get_text('typed.payload', ['language']) }} as language,
        {{ json_get_text('typed.payload', ['in_reply_to_id']) }} as in_reply_to_id,
        {{ json_get_text('typed.payload', ['in_reply_to_account_id']) }} as in_reply_to_account_id,
        {{ json_get_text('typed.payload', ['reblog', 'id']) }} as reblog_of_id,
        {{ json_get_text('typed.payload', ['reblog', 'uri']) }} as reblog_of_uri,
        {{ json_get_text('typed.payload', ['replies_count']) }} as raw_replies_count,
        {{ json_get_text('typed.payload', ['reblogs_count']) }} as raw_reblogs_count,
        {{ json_get_text('typed.payload', ['favourites_count']) }} as raw_favourites_count,
        {{ json_get_text('typed.payload', ['quotes_count']) }} as raw_quotes_count,
        {{ json_get('typed.payload', ['media_attachments']) }} as media_attachments,
        {{ json_get('typed.payload', ['mentions']) }} as mentions,
        {{ json_get('typed.payload', ['tags']) }} as tags,
        {{ json_get('typed.payload', ['poll']) }} as poll,
        {{ json_get_text('typed.payload', ['application', 'name']) }} as application_name,
        {{ json_get_text('typed.payload', ['account', 'id']) }} as account_id,
        {{ json_get_text('typed.payload', ['account', 'username']) }} as account_username,
        {{ json_get_text('typed.payload', ['account', 'acct']) }} as account_acct,
        {{ json_get_text('typed.payload', ['account', 'display_name']) }} as account_display_name,
        {{ json_get_text('typed.payload', ['account', 'note']) }} as account_note_html,
        {{ json_get_text('typed.payload', ['account', 'url']) }} as account_url,
        {{ json_get_text('typed.payload', ['account', 'uri']) }} as account_uri,
        {{ json_get_text('typed.payload', ['account', 'avatar']) }} as account_avatar_url,
        {{ json_get_text('typed.payload', ['account', 'bot']) }} as raw_account_bot,
        {{ json_get_text('typed.payload', ['account', 'group']) }} as raw_account_group,
        {{ json_get_text('typed.payload', ['account', 'locked']) }} as raw_account_locked,
        {{ json_get_text('typed.payload', ['account', 'discoverable']) }} as raw_account_discoverable,
        {{ json_get_text('typed.payload', ['account', 'created_at']) }} as raw_account_created_at,
        {{ json_get_text('typed.payload', ['account', 'last_status_at']) }} as raw_account_last_status_at,
        {{ json_get_text('typed.payload', ['account', 'followers_count']) }} as raw_account_followers_count,
        {{ json_get_text('typed.payload', ['account', 'following_count']) }} as raw_account_following_count,
        {{ json_get_text('typed.payload', ['account', 'statuses_count']) }} as raw_account_statuses_count,
        {{ json_get('typed.payload', ['account', 'fields']) }} as account_fields
    from typed
),

cast_fields as (
    select
        extracted.*,
        case
            when extracted.raw_status_id ~ '^[A-Za-z0-9_-]{1,64}$' then extracted.raw_status_id
        end as status_id,
        case
            when extracted.raw_visibility in ('public', 'unlisted', 'private', 'direct') then extracted.raw_visibility
        end as visibility,
        {{ safe_to_timestamptz('extracted.raw_created_at') }} as created_at,
        {{ safe_to_timestamptz('extracted.raw_edited_at') }} as edited_at,
        {{ safe_to_boolean('extracted.raw_sensitive') }} as sensitive,
        {{ safe_to_bigint('extracted.raw_replies_count') }} as replies_count,
        {{ safe_to_bigint('extracted.raw_reblogs_count') }} as reblogs_count,
        {{ safe_to_bigint('extracted.raw_favourites_count') }} as favourites_count,
        {{ safe_to_bigint('extracted.raw_quotes_count') }} as quotes_count,
        {{ safe_to_boolean('extracted.raw_account_bot') }} as account_is_bot,
        {{ safe_to_boolean('extracted.raw_account_group') }} as account_is_group,
        {{ safe_to_boolean('extracted.raw_account_locked') }} as account_is_locked,
        {{ safe_to_boolean('extracted.raw_account_discoverable') }} as account_is_discoverable,
        {{ safe_to_timestamptz('extracted.raw_account_created_at') }} as account_created_at,
        {{ safe_to_date('extracted.raw_account_last_status_at') }} as account_last_status_at,
        {{ safe_to_bigint('extracted.raw_account_followers_count') }} as account_followers_count,
        {{ safe_to_bigint('extracted.raw_account_following_count') }} as account_following_count,
        {{ safe_to_bigint('extracted.raw_account_statuses_count') }} as account_statuses_count
    from extracted
),

checked as (
    select
        cast_fields.*,
        case
            when cast_fields.payload_escaped
                then 'payload could not be stored as sent: ' || coalesce(cast_fields.payload_error, 'unknown reason')
            when not cast_fields.is_known_event_type
                then 'unknown event type: ' || cast_fields.event_type
            when cast_fields.carries_status and coalesce(cast_fields.payload_type, 'null') <> 'object'
                then 'payload is not a status object (JSON ' || coalesce(cast_fields.payload_type, 'null') || ')'
            when cast_fields.carries_status_id
                and coalesce(cast_fields.payload_type, 'null') not in ('string', 'number')
                then 'payload is not a status id (JSON ' || coalesce(cast_fields.payload_type, 'null') || ')'
            when cast_fields.raw_status_id is null
                then 'payload has no status id'
            when cast_fields.status_id is null
                then 'invalid status id: ' || left(cast_fields.raw_status_id, 80)
            when cast_fields.carries_status and cast_fields.account_id is null
                then 'status has no account id'
            when cast_fields.carries_status and cast_fields.created_at is null
                then 'missing or invalid created_at: ' || coalesce(left(cast_fields.raw_created_at, 80), 'null')
            when cast_fields.carries_status and cast_fields.raw_edited_at is not null and cast_fields.edited_at is null
                then 'invalid edited_at: ' || left(cast_fields.raw_edited_at, 80)
        end as parse_error,
        nullif(concat_ws(
            '; ',
            cast_fields.payload_error,
            case
                when cast_fields.raw_replies_count is not null and cast_fields.replies_count is null
                    then 'invalid replies_count ignored'
            end,
            case
                when cast_fields.raw_reblogs_count is not null and cast_fields.reblogs_count is null
                    then 'invalid reblogs_count ignored'
            end,
            case
                when cast_fields.raw_favourites_count is not null and cast_fields.favourites_count is null
                    then 'invalid favourites_count ignored'
            end,
            case
                when cast_fields.raw_sensitive is not null and cast_fields.sensitive is null
                    then 'invalid sensitive flag ignored'
            end,
            case
                when cast_fields.raw_visibility is not null and cast_fields.visibility is null
                    then 'unknown visibility ignored: ' || left(cast_fields.raw_visibility, 40)
            end
        ), '') as parse_warning
    from cast_fields
),

final as (
    select
        event_id,
        instance_id,
        instance_url,
        stream,
        event_source,
        event_type,
        received_at,
        dlt_load_id,
        loaded_at,
        batch_key,
        payload,
        payload_type,
        payload_status_id,
        payload_error,
        payload_escaped,
        is_known_event_type,
        carries_status,
        carries_status_id,
        status_id,
        parse_error,
        case when parse_error is null then parse_warning end as parse_warning,
        uri,
        url,
        created_at,
        edited_at,
        content_html,
        spoiler_text,
        coalesce(sensitive, false) as sensitive,
        visibility,
        language,
        in_reply_to_id,
        in_reply_to_account_id,
        reblog_of_id,
        reblog_of_uri,
        replies_count,
        reblogs_count,
        favourites_count,
        quotes_count,
        media_attachments,
        mentions,
        tags,
        poll,
        application_name,
        account_id,
        account_username,
        account_acct,
        account_display_name,
        account_note_html,
        account_url,
        account_uri,
        account_avatar_url,
        account_is_bot,
        account_is_group,
        account_is_locked,
        account_is_discoverable,
        account_created_at,
        account_last_status_at,
        account_followers_count,
        account_following_count,
        account_statuses_count,
        account_fields
    from checked
)

select * from final
