{#-
  When a raw event was loaded: its dlt load id as timestamptz, or its received_at when the id is malformed.
  `source_events` is the alias of raw.stream_events (stg_mastodon__stream_events and
  stg_mastodon__stream_event_keys, which must agree: incremental windows are found on one, read on the other).
-#}
{% macro raw_event_loaded_at(source_events) -%}
    coalesce(
        {{ forkalytics.dlt_load_id_to_timestamptz(source_events ~ '._dlt_load_id') }},
        {{ source_events }}.received_at
    )
{%- endmacro %}
