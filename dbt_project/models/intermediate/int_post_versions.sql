{{
    config(
        materialized='incremental',
        unique_key=['instance_id', 'post_id'],
        incremental_strategy='delete+insert',
        pre_hook="{{ forkalytics.hash_joins_only() if is_incremental() }}",
        post_hook=[
            "{{ forkalytics.privacy_hook_post_versions() }}",
            "{{ forkalytics.refreshed_at_index() }}",
            "{{ forkalytics.json_array_ids_index('mentions') }}",
            "{{ forkalytics.json_array_ids_index('media_attachments') }}",
            "{{ forkalytics.json_array_index('hashtags') }}",
        ],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['instance_id', 'post_id', 'version_seq'], 'unique': true},
        ],
    )
}}
{#-
  Every version of every post, from the event log (not a dbt snapshot: several edits between two runs
  are several versions). Observations with the same `version_key` (same edited_at, content, spoiler,
  sensitive flag and media) are one version however many sources delivered them. Versions are ordered
  by edited_at (the original, without edited_at, first), then by when they were first observed.

  Incremental: the posts with an event refreshed since the last run (creates, edits, polls, deletes,
  late or out of order: `refreshed_at`, macros/incremental.sql) are recomputed from all of their
  observations and replace their old rows (delete+insert on (instance_id, post_id)), so the result is the
  full-refresh result, and the work is proportional to what changed, not to the history. The planner
  cannot estimate how many posts survive the window functions (it guessed 10 rows for 32,000 and
  nested-looped a join over them: 20 s), so hash_joins_only forbids nested loops here, and the touched
  posts' observations are found through the status_id index with an array (a bitmap scan, not a loop).
-#}
-- depends_on: {{ ref('int_stream_events__deduped') }}
with

{% if is_incremental() %}
    touched_posts as (
        select distinct
            events.instance_id,
            events.status_id
        from {{ ref('int_stream_events__deduped') }} as events
        where
            events.refreshed_at > {{ last_refreshed_at() }}
            and events.status_id is not null
            and events.parse_error is null
    ),
{% endif %}

observations as (
    select observations.*
    from {{ ref('int_status_observations') }} as observations
    {% if is_incremental() %}
        inner join touched_posts
            on
                observations.instance_id = touched_posts.instance_id
                and observations.status_id = touched_posts.status_id
        -- the touched posts' observations through the status_id index (a bitmap scan; no nested loop)
        where observations.status_id = any(array(select touched.status_id from touched_posts as touched))
    {% endif %}
),

deletes as (
    select deletes.*
    from {{ ref('int_status_deletes') }} as deletes
    {% if is_incremental() %}
        inner join touched_posts
            on
                deletes.instance_id = touched_posts.instance_id
                and deletes.status_id = touched_posts.status_id
    {% endif %}
),

observations_per_version as (
    select
        observations.*,
        row_number() over (
            partition by observations.instance_id, observations.status_id, observations.version_key
            order by observations.observed_at, observations.event_id
        ) as observation_rank,
        min(observations.observed_at) over (
            partition by observations.instance_id, observations.status_id, observations.version_key
        ) as version_first_observed_at,
        max(observations.observed_at) over (
            partition by observations.instance_id, observations.status_id, observations.version_key
        ) as version_last_observed_at,
        count(*) over (
            partition by observations.instance_id, observations.status_id, observations.version_key
        ) as version_observation_count,
        min(observations.created_at) over (
            partition by observations.instance_id, observations.status_id
        ) as post_created_at,
        max(observations.last_loaded_at) over (
            partition by observations.instance_id, observations.status_id
        ) as post_loaded_at
    from observations
),

versions as (
    select
        versions.*,
        row_number() over (
            partition by versions.instance_id, versions.status_id
            order by
                versions.edited_at asc nulls first, versions.version_first_observed_at asc, versions.version_key asc
        ) as version_seq,
        count(*) over (partition by versions.instance_id, versions.status_id) as version_count
    from observations_per_version as versions
    where versions.observation_rank = 1
),

bounded as (
    select
        versions.*,
        -- the original starts when the post was created; an edit when it was made (or, for servers that
        -- do not send edited_at, when it was first observed); a running max keeps the ranges ordered
        max(
            coalesce(
                versions.edited_at,
                case when versions.version_seq = 1 then versions.post_created_at end,
                versions.version_first_observed_at
            )
        ) over (
            partition by versions.instance_id, versions.status_id
            order by versions.version_seq
            rows between unbounded preceding and current row
        ) as valid_from
    from versions
),

final as (
    select
        bounded.instance_id,
        bounded.status_id as post_id,
        cast(bounded.version_seq as integer) as version_seq,
        bounded.valid_from,
        coalesce(
            lead(bounded.valid_from) over (
                partition by bounded.instance_id, bounded.status_id order by bounded.version_seq
            ),
            case when deletes.deleted_at is not null then greatest(deletes.deleted_at, bounded.valid_from) end
        ) as valid_to,
        bounded.version_seq = bounded.version_count as is_current,
        cast(bounded.version_count as integer) as version_count,
        bounded.edited_at,
        bounded.edited_at is null as is_original,
        bounded.post_created_at as created_at,
        bounded.content_html,
        bounded.content_text,
        bounded.spoiler_text,
        bounded.sensitive,
        bounded.language,
        bounded.hashtags,
        bounded.mentions,
        bounded.media_attachments,
        bounded.media_count,
        bounded.has_poll,
        bounded.version_key,
        bounded.event_id as first_event_id,
        bounded.version_first_observed_at as first_observed_at,
        bounded.version_last_observed_at as last_observed_at,
        cast(bounded.version_observation_count as integer) as observation_count,
        deletes.deleted_at,
        deletes.deletion_reason,
        greatest(bounded.post_loaded_at, deletes.last_loaded_at) as source_loaded_at,
        {{ run_started_timestamptz() }} as refreshed_at
    from bounded
    left join deletes
        on
            bounded.instance_id = deletes.instance_id
            and bounded.status_id = deletes.status_id
)

select * from final
