{#-
  Consent and privacy (README "Privacy and consent"; extract/consent.py).

  The loader redacts raw payloads of accounts that opted out (and of non-public and deleted statuses) and
  records every author's consent in raw.account_consent. Tables rebuilt from the event log lose the text
  with it; incremental models keep rows they built before an account opted out, so each of them runs
  `redact_opted_out` as a post-hook: rows of an opted-out account that still hold text are blanked.
-#}

{#- (instance_id, account_id) of every account that opted out, as a subquery. -#}
{% macro opted_out_accounts() -%}
    (
        select
            consent.instance_id,
            consent.account_id
        from {{ source('privacy_raw', 'account_consent') }} as consent
        where consent.consent_status = 'opted_out'
    )
{%- endmacro %}

{#- A media attachments JSON array without descriptions and URLs (ids, types, meta stay). -#}
{% macro media_without_descriptions(expr) -%}
    case
        when jsonb_typeof({{ expr }}) = 'array' then coalesce((
            select
                jsonb_agg(
                    case
                        when jsonb_typeof(media.value) = 'object'
                            then media.value || '{"description": null, "url": null, "preview_url": null,
                                "remote_url": null, "text_url": null, "preview_remote_url": null}'::jsonb
                        else media.value
                    end
                    order by media.ordinality
                )
            from jsonb_array_elements({{ expr }}) with ordinality as media
        ), '[]'::jsonb)
        else {{ expr }}
    end
{%- endmacro %}

{#- An Account JSON object without display name, bio and profile fields. -#}
{% macro account_without_profile(expr) -%}
    case
        when jsonb_typeof({{ expr }}) = 'object'
            then {{ expr }} || '{"display_name": "", "note": "", "fields": []}'::jsonb
        else {{ expr }}
    end
{%- endmacro %}

{#- A Status JSON object without its text (the same fields as extract/consent.py blanks), one level. -#}
{% macro status_without_text(expr, profile=true) -%}
    {{ expr }} || jsonb_build_object(
        'content', '', 'spoiler_text', '', 'text', null, 'poll', null,
        'card', case
            when jsonb_typeof({{ expr }} -> 'card') = 'object'
                then jsonb_build_object('url', {{ expr }} -> 'card' -> 'url', 'type', {{ expr }} -> 'card' -> 'type')
        end,
        'media_attachments', {{ forkalytics.media_without_descriptions(expr ~ " -> 'media_attachments'") }}
        {%- if profile %},
        'account', {{ forkalytics.account_without_profile(expr ~ " -> 'account'") }}
        {%- endif %}
    )
{%- endmacro %}

{#-
  A stored event payload without text (the Status and a boosted Status); `reason` is SQL for the label;
  `profile` false keeps the author's profile (a deleted post of a consenting account).
-#}
{% macro redacted_payload(expr, reason="'account opted out'", profile=true) -%}
    case
        when jsonb_typeof({{ expr }}) = 'object'
            then {{ forkalytics.status_without_text(expr, profile) }} || jsonb_build_object(
                'reblog',
                case
                    when jsonb_typeof({{ expr }} -> 'reblog') = 'object'
                        then {{ forkalytics.status_without_text("(" ~ expr ~ " -> 'reblog')", profile) }}
                    else {{ expr }} -> 'reblog'
                end,
                'forkalytics_redaction', {{ reason }}
            )
        else {{ expr }}
    end
{%- endmacro %}

{#-
  Post-hook: blank `columns` (name -> redacted SQL expression over `target`) in the rows of opted-out
  accounts where `pending` (SQL over `target`) says text is still there. `key` is `account_id` (the table
  has the author) or the name of the table's post id column (the author is looked up in
  int_status_observations). With `deleted` (SQL over `target`) and redact_deleted_content on, a second
  statement blanks `deleted_columns` (the post's text; the author's profile stays) in deleted posts' rows
  where `deleted_pending` (default `pending`) holds; `deleted_scope` (SQL over `target`) limits that second
  statement to the rows it can concern in this run (the rows written now, the posts deleted now), so it does
  not re-read every deleted post's rows each run; var privacy_recheck_deleted lifts the limit (once, after
  turning redact_deleted_content on for a warehouse that had it off).
-#}
{% macro redact_opted_out(columns, pending, key='account_id', deleted=none, deleted_columns=none,
                          deleted_pending=none, deleted_scope=none) -%}
    update {{ this }} as target
    set
        {%- for name, expr in columns.items() %}
            {{ name }} = {{ expr }}{{ ',' if not loop.last }}
        {%- endfor %}
    where
        ({{ pending }})
        {#- a one-time check first: with no account opted out, the table is not read at all (a full build's
            planner otherwise read every row, 4.8 s for 1M events, before joining with an empty list) #}
        and exists {{ forkalytics.opted_out_accounts() }}
        {%- if key == 'account_id' %}
            and (target.instance_id, target.account_id) in {{ forkalytics.opted_out_accounts() }}
        {%- else %}
            and (target.instance_id, target.{{ key }}) in (
                select
                    observations.instance_id,
                    observations.status_id
                from {{ ref('int_status_observations') }} as observations
                where (observations.instance_id, observations.account_id) in {{ forkalytics.opted_out_accounts() }}
            )
        {%- endif %}
    {%- if deleted and forkalytics.redact_deleted() %};
        update {{ this }} as target
        set
            {%- for name, expr in (deleted_columns or columns).items() %}
                {{ name }} = {{ expr }}{{ ',' if not loop.last }}
            {%- endfor %}
        where ({{ deleted_pending or pending }}) and ({{ deleted }})
        {%- if deleted_scope and not var('privacy_recheck_deleted', false) %}
            and ({{ deleted_scope }})
        {%- endif %}
    {%- endif %}
{%- endmacro %}

{#-
  True when a delete event of the row's post is among `events` (the deduplicated events): an index probe on
  (instance_id, status_id). A delete's status_id is its validated payload status id; one that does not
  validate is null and could not name a stored post anyway.
-#}
{% macro has_delete_event(events) -%}
    exists (
        select 1
        from {{ events }} as deletes
        where
            deletes.instance_id = target.instance_id
            and deletes.status_id = target.status_id
            and deletes.event_type = 'delete'
    )
{%- endmacro %}

{#-
  The rows of an event-level model a delete can concern in this run: the rows written by this run of posts
  that have a delete event, and the rows of posts whose delete event the deduplicated events took in this run
  (refreshed_at = the run's start). Both are found as joins with the delete events, so the list holds only
  rows of deleted posts: on a full build, where every row was written now, a list of every row (read back
  by one index probe each) took 16 s per model at 1M events.

  When every row of the table was written by this run (a full build; checked once through the refreshed_at
  index, which the model creates before this hook), both halves are the rows of posts with a delete event:
  then one join is read instead of the union of two, each of which read the whole table twice (UPDATEs get
  no parallel workers). A full build of 1M events: 2.3-3.0 s per model instead of 3.8-6.5 s.
-#}
{% macro deleted_this_run(events) -%}
    {%- set run_started = forkalytics.run_started_timestamptz() -%}
    {%- set earlier_rows -%}
        exists (
            select 1
            from {{ this }} as earlier
            where
                earlier.refreshed_at < {{ run_started }}
                or earlier.refreshed_at > {{ run_started }}
                or earlier.refreshed_at is null
        )
    {%- endset -%}
    {%- set rows_of_deleted_posts -%}
        select written.event_id
        from {{ this }} as written
        inner join {{ events }} as deletes
            on
                written.instance_id = deletes.instance_id
                and written.status_id = deletes.status_id
        where
            deletes.event_type = 'delete'
    {%- endset -%}
    {#- found by event_id (an index read of the few rows), not as a filter over every row; each part runs
        only when its one-time check of `earlier_rows` holds -#}
    target.event_id = any(array(
        {{ rows_of_deleted_posts }}
            and not {{ earlier_rows }}
        union
        {{ rows_of_deleted_posts }}
            and written.refreshed_at = {{ run_started }}
            and {{ earlier_rows }}
        union
        select kept.event_id
        from {{ events }} as deletes
        inner join {{ this }} as kept
            on
                deletes.instance_id = kept.instance_id
                and deletes.status_id = kept.status_id
        where
            deletes.refreshed_at = {{ run_started }}
            and deletes.event_type = 'delete'
            and {{ earlier_rows }}
    ))
{%- endmacro %}

{#- The post-hooks of the incremental models that keep text (one per model). -#}
{% macro privacy_hook_deduped_events() -%}
    {{ forkalytics.redact_opted_out({
        'payload': forkalytics.redacted_payload('target.payload'),
        'content_html': "''",
        'spoiler_text': "''",
        'poll': 'null',
        'media_attachments': forkalytics.media_without_descriptions('target.media_attachments'),
        'account_display_name': "''",
        'account_note_html': "''",
        'account_fields': "'[]'::jsonb",
    }, "jsonb_typeof(target.payload) = 'object' and not target.payload ?| array['forkalytics_redaction',"
       ~ " 'forkalytics_redacted']",
       deleted="target.carries_status and " ~ forkalytics.has_delete_event(this),
       deleted_scope=forkalytics.deleted_this_run(this),
       deleted_columns={
        'payload': forkalytics.redacted_payload('target.payload', "'post deleted'", profile=false),
        'content_html': "''",
        'spoiler_text': "''",
        'poll': 'null',
        'media_attachments': forkalytics.media_without_descriptions('target.media_attachments'),
    }) }}
{%- endmacro %}

{% macro privacy_hook_status_observations() -%}
    {{ forkalytics.redact_opted_out({
        'content_html': "''",
        'content_text': "''",
        'spoiler_text': "''",
        'media_attachments': forkalytics.media_without_descriptions('target.media_attachments'),
        'account_display_name': "''",
        'account_note_html': "''",
        'account_fields': "'[]'::jsonb",
    }, "coalesce(target.content_html, '') <> '' or coalesce(target.spoiler_text, '') <> ''"
       ~ " or coalesce(target.account_display_name, '') <> '' or coalesce(target.account_note_html, '') <> ''"
       ~ " or coalesce(jsonb_array_length(case when jsonb_typeof(target.account_fields) = 'array'"
       ~ " then target.account_fields end), 0) > 0"
       ~ " or target.media_attachments::text similar to '%\"(description|url)\": \"%'",
       deleted=forkalytics.has_delete_event(ref('int_stream_events__deduped')),
       deleted_scope=forkalytics.deleted_this_run(ref('int_stream_events__deduped')),
       deleted_columns={
        'content_html': "''",
        'content_text': "''",
        'spoiler_text': "''",
        'media_attachments': forkalytics.media_without_descriptions('target.media_attachments'),
        'card_url': 'null',
    },
       deleted_pending="coalesce(target.content_html, '') <> '' or coalesce(target.spoiler_text, '') <> ''"
       ~ " or target.media_attachments::text similar to '%\"(description|url)\": \"%'"
       ~ " or target.card_url is not null") }}
{%- endmacro %}

{#- int_post_versions (intermediate: also media and deleted posts) and marts.post_versions. -#}
{% macro privacy_hook_post_versions(intermediate=true) -%}
    {%- set columns = {'content_html': "''", 'content_text': "''", 'spoiler_text': "''"} -%}
    {%- set pending = "coalesce(target.content_html, '') <> '' or coalesce(target.spoiler_text, '') <> ''"
        ~ " or coalesce(target.content_text, '') <> ''" -%}
    {%- if intermediate -%}
        {%- do columns.update({'media_attachments': forkalytics.media_without_descriptions('target.media_attachments')}) -%}
        {%- set pending = pending ~ " or target.media_attachments::text similar to '%\"(description|url)\": \"%'" -%}
    {%- endif -%}
    {{ forkalytics.redact_opted_out(columns, pending, key='post_id',
        deleted='target.deleted_at is not null' if intermediate else none) }}
{%- endmacro %}

{% macro privacy_hook_stream_events() -%}
    {{ forkalytics.redact_opted_out({'payload': forkalytics.redacted_payload('target.payload')},
        "jsonb_typeof(target.payload) = 'object' and not target.payload ? 'forkalytics_redaction'",
        key='status_id') }}
{%- endmacro %}

{#-
  marts.posts: the text of an account that opted out after its posts were built (deleted posts are redacted
  by the model already). The rows it blanks are marked refreshed, so the marts built from posts pick them up.
-#}
{% macro privacy_hook_posts() -%}
    {{ forkalytics.redact_opted_out({
        'content_html': "''",
        'content_text': "''",
        'spoiler_text': "''",
        'refreshed_at': forkalytics.run_started_timestamptz(),
    }, "coalesce(target.content_html, '') <> '' or coalesce(target.spoiler_text, '') <> ''"
       ~ " or coalesce(target.content_text, '') <> ''") }}
{%- endmacro %}

{#- marts.media_attachments: the URLs and description of the media of an account that opted out later. -#}
{% macro privacy_hook_media_attachments() -%}
    {{ forkalytics.redact_opted_out({
        'url': 'null',
        'preview_url': 'null',
        'remote_url': 'null',
        'description': 'null',
        'refreshed_at': forkalytics.run_started_timestamptz(),
    }, "target.url is not null or target.preview_url is not null or target.remote_url is not null"
       ~ " or target.description is not null", key='post_id') }}
{%- endmacro %}
