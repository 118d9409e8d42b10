{#-
  One row per raw event as received (duplicates included: the intermediate layer drops them), typed and
  with the Status fields extracted from the JSON payload. Every cast of payload data is guarded: a value
  that does not parse becomes null and the row carries `parse_error` (the event cannot be applied) or
  `parse_warning` (a field was ignored), never a failed build.
-#}
-- Nested subqueries, one per step (source columns typed and the payload decompressed, then the JSON fields
-- extracted, then the guarded casts, then the checks), not the usual chain of CTEs: PostgreSQL flattens such
-- a chain, and every use of a column then repeats the expression behind it, each time decompressing the
-- ~2.3 KB payload again (the created_at check alone extracted created_at six times): ~230 µs per event. Each
-- subquery selects an `evaluation_fence` (macros/engine/planner.sql), so the planner keeps it as it is: the
-- payload is decompressed once, each field extracted once and each guarded cast done once. Filters on the
-- source's columns (the incremental windows on dlt_load_id and loaded_at) still reach the table and its
-- indexes, and a full read runs in parallel workers. Read this view in the main query, not in a CTE (a CTE
-- over it is always materialised), and walk raw's indexes through stg_mastodon__stream_event_keys.
select
    fields.event_id,
    fields.instance_id,
    fields.instance_url,
    fields.stream,
    fields.event_source,
    fields.event_type,
    fields.received_at,
    fields.dlt_load_id,
    fields.loaded_at,
    fields.batch_key,
    fields.payload,
    fields.payload_type,
    fields.payload_status_id,
    fields.payload_error,
    fields.payload_escaped,
    fields.is_known_event_type,
    fields.carries_status,
    fields.carries_status_id,
    fields.status_id,
    fields.parse_error,
    case when fields.parse_error is null then fields.parse_warning end as parse_warning,
    fields.uri,
    fields.url,
    fields.created_at,
    fields.edited_at,
    fields.content_html,
    fields.spoiler_text,
    coalesce(fields.sensitive, false) as sensitive,
    fields.visibility,
    fields.language,
    fields.in_reply_to_id,
    fields.in_reply_to_account_id,
    fields.reblog_of_id,
    fields.reblog_of_uri,
    fields.replies_count,
    fields.reblogs_count,
    fields.favourites_count,
    fields.quotes_count,
    fields.media_attachments,
    fields.mentions,
    fields.tags,
    fields.poll,
    fields.application_name,
    fields.account_id,
    fields.account_username,
    fields.account_acct,
    fields.account_display_name,
    fields.account_note_html,
    fields.account_url,
    fields.account_uri,
    fields.account_avatar_url,
    fields.account_is_bot,
    fields.account_is_group,
    fields.account_is_locked,
    fields.account_is_discoverable,
    fields.account_created_at,
    fields.account_last_status_at,
    fields.account_followers_count,
    fields.account_following_count,
    fields.account_statuses_count,
    fields.account_fields
from (
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
        ), '') as parse_warning,
        {{ evaluation_fence('checked_once') }}
    from (
        select
            extracted.*,
            case
                when extracted.raw_status_id ~ '^[A-Za-z0-9_-]{1,64}$' then extracted.raw_status_id
            end as status_id,
            case
                when extracted.raw_visibility in ('public', 'unlisted', 'private', 'direct')
                    then extracted.raw_visibility
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
            {{ safe_to_bigint('extracted.raw_account_statuses_count') }} as account_statuses_count,
            {{ evaluation_fence('cast_once') }}
        from (
            select
                parsed.*,
                {{ json_type('parsed.doc') }} as payload_type,
                case
                    when parsed.payload_escaped then null
                    when
                        parsed.event_type in ('update', 'status.update', 'poll')
                        and {{ json_type('parsed.doc') }} = 'object'
                        then {{ json_get_text('parsed.doc', ['id']) }}
                    when
                        parsed.event_type in ('delete', 'poll.missing')
                        and {{ json_type('parsed.doc') }} in ('string', 'number')
                        then {{ json_scalar_text('parsed.doc') }}
                end as raw_status_id,
                {{ json_get_text('parsed.doc', ['uri']) }} as uri,
                {{ json_get_text('parsed.doc', ['url']) }} as url,
                {{ json_get_text('parsed.doc', ['created_at']) }} as raw_created_at,
                {{ json_get_text('parsed.doc', ['edited_at']) }} as raw_edited_at,
                {{ json_get_text('parsed.doc', ['content']) }} as content_html,
                coalesce({{ json_get_text('parsed.doc', ['spoiler_text']) }}, '') as spoiler_text,
                {{ json_get_text('parsed.doc', ['sensitive']) }} as raw_sensitive,
                {{ json_get_text('parsed.doc', ['visibility']) }} as raw_visibility,
                {{ json_get_text('parsed.doc', ['language']) }} as language,
                {{ json_get_text('parsed.doc', ['in_reply_to_id']) }} as in_reply_to_id,
                {{ json_get_text('parsed.doc', ['in_reply_to_account_id']) }} as in_reply_to_account_id,
                {{ json_get_text('parsed.doc', ['reblog', 'id']) }} as reblog_of_id,
                {{ json_get_text('parsed.doc', ['reblog', 'uri']) }} as reblog_of_uri,
                {{ json_get_text('parsed.doc', ['replies_count']) }} as raw_replies_count,
                {{ json_get_text('parsed.doc', ['reblogs_count']) }} as raw_reblogs_count,
                {{ json_get_text('parsed.doc', ['favourites_count']) }} as raw_favourites_count,
                {{ json_get_text('parsed.doc', ['quotes_count']) }} as raw_quotes_count,
                {{ json_get('parsed.doc', ['media_attachments']) }} as media_attachments,
                {{ json_get('parsed.doc', ['mentions']) }} as mentions,
                {{ json_get('parsed.doc', ['tags']) }} as tags,
                {{ json_get('parsed.doc', ['poll']) }} as poll,
                {{ json_get_text('parsed.doc', ['application', 'name']) }} as application_name,
                {{ json_get_text('parsed.doc', ['account', 'id']) }} as account_id,
                {{ json_get_text('parsed.doc', ['account', 'username']) }} as account_username,
                {{ json_get_text('parsed.doc', ['account', 'acct']) }} as account_acct,
                {{ json_get_text('parsed.doc', ['account', 'display_name']) }} as account_display_name,
                {{ json_get_text('parsed.doc', ['account', 'note']) }} as account_note_html,
                {{ json_get_text('parsed.doc', ['account', 'url']) }} as account_url,
                {{ json_get_text('parsed.doc', ['account', 'uri']) }} as account_uri,
                {{ json_get_text('parsed.doc', ['account', 'avatar']) }} as account_avatar_url,
                {{ json_get_text('parsed.doc', ['account', 'bot']) }} as raw_account_bot,
                {{ json_get_text('parsed.doc', ['account', 'group']) }} as raw_account_group,
                {{ json_get_text('parsed.doc', ['account', 'locked']) }} as raw_account_locked,
                {{ json_get_text('parsed.doc', ['account', 'discoverable']) }} as raw_account_discoverable,
                {{ json_get_text('parsed.doc', ['account', 'created_at']) }} as raw_account_created_at,
                {{ json_get_text('parsed.doc', ['account', 'last_status_at']) }} as raw_account_last_status_at,
                {{ json_get_text('parsed.doc', ['account', 'followers_count']) }} as raw_account_followers_count,
                {{ json_get_text('parsed.doc', ['account', 'following_count']) }} as raw_account_following_count,
                {{ json_get_text('parsed.doc', ['account', 'statuses_count']) }} as raw_account_statuses_count,
                {{ json_get('parsed.doc', ['account', 'fields']) }} as account_fields,
                {{ evaluation_fence('extracted_once') }}
            from (
                -- the source's columns renamed and typed, and the payload decompressed once (the whole value:
                -- empty path)
                select
                    {{ raw_event_key_columns('source_events') }},
                    cast(source_events.instance_url as text) as instance_url,
                    cast(source_events.source as text) as event_source,
                    cast(source_events.event_type as text) as event_type,
                    source_events.payload,
                    cast(source_events.payload_status_id as text) as payload_status_id,
                    cast(source_events.payload_error as text) as payload_error,
                    coalesce(source_events.payload_escaped, false) as payload_escaped,
                    source_events.event_type in ('update', 'status.update', 'poll') as carries_status,
                    source_events.event_type in ('delete', 'poll.missing') as carries_status_id,
                    source_events.event_type in ('update', 'status.update', 'poll', 'delete', 'poll.missing')
                        as is_known_event_type,
                    {{ json_get('source_events.payload', []) }} as doc,
                    {{ evaluation_fence('parsed_once') }}
                from {{ source('mastodon_raw', 'stream_events') }} as source_events
            ) as parsed
        ) as extracted
    ) as cast_fields
) as fields
