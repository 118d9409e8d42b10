{#- Time idioms, one macro each, dispatched per engine. All timestamps are timestamptz, truncation in UTC. -#}

{#- Truncate a timestamptz to `part` ('hour', 'day', ...) in UTC, whatever the session time zone. -#}
{% macro truncate_timestamp(part, expr) -%}
    {{ return(adapter.dispatch('truncate_timestamp', 'forkalytics')(part, expr)) }}
{%- endmacro %}

{% macro default__truncate_timestamp(part, expr) -%}
    date_trunc('{{ part }}', {{ expr }}, 'UTC')
{%- endmacro %}

{#- Elapsed seconds between two timestamps (t1 - t0), as a number (not calendar boundaries). -#}
{% macro elapsed_seconds(t0, t1) -%}
    {{ return(adapter.dispatch('elapsed_seconds', 'forkalytics')(t0, t1)) }}
{%- endmacro %}

{% macro default__elapsed_seconds(t0, t1) -%}
    extract(epoch from ({{ t1 }}) - ({{ t0 }}))
{%- endmacro %}

{#- A timestamptz `hours` hours before `expr`. -#}
{% macro hours_before(expr, hours) -%}
    {{ return(adapter.dispatch('hours_before', 'forkalytics')(expr, hours)) }}
{%- endmacro %}

{% macro default__hours_before(expr, hours) -%}
    (({{ expr }}) - make_interval(hours => {{ hours }}))
{%- endmacro %}

{#- The timestamptz of a unix epoch in seconds (number). -#}
{% macro from_epoch_seconds(expr) -%}
    {{ return(adapter.dispatch('from_epoch_seconds', 'forkalytics')(expr)) }}
{%- endmacro %}

{% macro default__from_epoch_seconds(expr) -%}
    to_timestamp({{ expr }})
{%- endmacro %}
