{#-
  The columns of a raw event that identify it and its load, named and typed as the staging layer exposes them:
  event_id, instance_id, stream, received_at, dlt_load_id, loaded_at (the dlt load id as timestamptz, or
  received_at when the id is malformed) and batch_key. `source_events` is the alias of raw.stream_events.
  One macro for stg_mastodon__stream_events and stg_mastodon__stream_event_keys, which must agree: the
  deduplicated events find a run's loads and keys through the one and read the events through the other.
-#}
{% macro raw_event_key_columns(source_events) -%}
    cast({{ source_events }}.event_id as text) as event_id,
    cast({{ source_events }}.instance_id as text) as instance_id,
    cast({{ source_events }}.stream as text) as stream,
    {{ source_events }}.received_at,
    cast({{ source_events }}._dlt_load_id as text) as dlt_load_id,
    coalesce(
        {{ forkalytics.dlt_load_id_to_timestamptz(source_events ~ '._dlt_load_id') }},
        {{ source_events }}.received_at
    ) as loaded_at,
    cast({{ source_events }}.batch_key as text) as batch_key
{%- endmacro %}
