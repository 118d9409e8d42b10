{#-
  Link (preview) cards: the card URL of each observation (int_status_observations.card_url) and of each post
  (marts.posts.card_url, what trending_links counts), and the upgrade of tables built before those columns.
-#}

{#- The card URL of a Status payload: null when it has no card object, '' when the card has no URL. -#}
{% macro observation_card_url(payload_expr) -%}
    case
        when {{ forkalytics.json_type(forkalytics.json_get(payload_expr, ['card'])) }} = 'object'
            then coalesce({{ forkalytics.json_get_text(payload_expr, ['card', 'url']) }}, '')
    end
{%- endmacro %}

{#-
  Pre-hook of an incremental model: when its table was built before `column` existed, add the column and fill
  it for the rows already there with `fill_sql` (statements over {{ this }}), so that they hold what a full
  refresh would give them. A no-op on every later run, on a full refresh and on the first build. The fill does
  not touch refreshed_at: the models downstream that need the column fill it the same way.
-#}
{% macro add_column_filled(column, data_type, fill_sql) -%}
    {%- if execute and is_incremental() -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- if column not in columns -%}
            alter table {{ this }} add column {{ column }} {{ data_type }};
            {{ fill_sql }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#-
  int_status_observations.card_url for the observations kept before the column existed, from their
  deduplicated events' payloads (once: 15 s per million events), blank (null) for deleted posts as the privacy
  hook leaves them.
-#}
{% macro backfill_observation_card_urls() -%}
    {%- set fill -%}
        update {{ this }} as target
        set card_url = {{ forkalytics.observation_card_url('events.payload') }}
        from {{ ref('int_stream_events__deduped') }} as events
        where
            events.event_id = target.event_id
            and {{ forkalytics.json_type(forkalytics.json_get('events.payload', ['card'])) }} = 'object'
            {%- if forkalytics.redact_deleted() %}
                and not exists (
                    select 1
                    from {{ ref('int_stream_events__deduped') }} as deletes
                    where
                        deletes.instance_id = target.instance_id
                        and deletes.status_id = target.status_id
                        and deletes.event_type = 'delete'
                )
            {%- endif %}
    {%- endset -%}
    {{ forkalytics.add_column_filled('card_url', 'text', fill) }}
{%- endmacro %}

{#- marts.posts.card_url for the posts kept before the column existed, from their observations. -#}
{% macro backfill_post_card_urls() -%}
    {%- set fill -%}
        update {{ this }} as target
        set card_url = cards.card_url
        from ({{ forkalytics.newest_post_cards(ref('int_status_observations')) }}) as cards
        where
            cards.instance_id = target.instance_id
            and cards.post_id = target.post_id
            {%- if forkalytics.redact_deleted() %}
                and target.deleted_at is null
            {%- endif %}
    {%- endset -%}
    {{ forkalytics.add_column_filled('card_url', 'text', fill) }}
{%- endmacro %}

{#-
  (instance_id, post_id, card_url) of every post with a card URL in `observations`: the URL of its newest
  observation (received_at, then event_id, descending) that has a card object, when that card has a URL.
-#}
{% macro newest_post_cards(observations) -%}
    select
        ranked.instance_id,
        ranked.post_id,
        ranked.card_url
    from (
        select
            observations.instance_id,
            observations.status_id as post_id,
            observations.card_url,
            row_number() over (
                partition by observations.instance_id, observations.status_id
                order by observations.observed_at desc, observations.event_id desc
            ) as newest_first
        from {{ observations }} as observations
        where observations.card_url is not null
    ) as ranked
    where ranked.newest_first = 1 and ranked.card_url <> ''
{%- endmacro %}
