{#-
  Guarded casts of untrusted text (JSON from remote servers). PostgreSQL has no try_cast and dbt.safe_cast
  is a plain cast, so each value is checked (regex / case) before it is cast: a bad value becomes null,
  and the caller flags it, instead of failing the build.
-#}

{#- ISO 8601 / RFC 3339 timestamp with an offset (Mastodon: 2024-05-01T12:00:00.000Z) -> timestamptz. -#}
{% macro safe_to_timestamptz(expr) -%}
    {{ return(adapter.dispatch('safe_to_timestamptz', 'forkalytics')(expr)) }}
{%- endmacro %}

{#- Nested cases: PostgreSQL does not promise to evaluate the operands of `and` in order. -#}
{% macro default__safe_to_timestamptz(expr) -%}
    case
        when {{ expr }} ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?(Z|z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])$'
            then case
                when cast(substr({{ expr }}, 9, 2) as integer) <= extract(day from (
                    date_trunc('month', to_date(substr({{ expr }}, 1, 7) || '-01', 'YYYY-MM-DD'))
                    + interval '1 month - 1 day'
                ))
                    then cast({{ expr }} as timestamptz)
            end
    end
{%- endmacro %}

{#- A date (YYYY-MM-DD, optionally followed by a time that is ignored) -> date. -#}
{% macro safe_to_date(expr) -%}
    {{ return(adapter.dispatch('safe_to_date', 'forkalytics')(expr)) }}
{%- endmacro %}

{% macro default__safe_to_date(expr) -%}
    case
        when {{ expr }} ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
            then case
                when cast(substr({{ expr }}, 9, 2) as integer) <= extract(day from (
                    date_trunc('month', to_date(substr({{ expr }}, 1, 7) || '-01', 'YYYY-MM-DD'))
                    + interval '1 month - 1 day'
                ))
                    then to_date(substr({{ expr }}, 1, 10), 'YYYY-MM-DD')
            end
    end
{%- endmacro %}

{#- A non-negative integer (JSON number or numeric string, at most 18 digits) -> bigint. -#}
{% macro safe_to_bigint(expr) -%}
    {{ return(adapter.dispatch('safe_to_bigint', 'forkalytics')(expr)) }}
{%- endmacro %}

{% macro default__safe_to_bigint(expr) -%}
    case when {{ expr }} ~ '^[0-9]{1,18}$' then cast({{ expr }} as bigint) end
{%- endmacro %}

{#- A JSON boolean (text 'true' / 'false') -> boolean; anything else -> null. -#}
{% macro safe_to_boolean(expr) -%}
    {{ return(adapter.dispatch('safe_to_boolean', 'forkalytics')(expr)) }}
{%- endmacro %}

{% macro default__safe_to_boolean(expr) -%}
    case lower({{ expr }}) when 'true' then true when 'false' then false end
{%- endmacro %}

{#- A dlt load id (unix seconds as text, e.g. 1764072000.123456) -> timestamptz, null when malformed. -#}
{% macro dlt_load_id_to_timestamptz(expr) -%}
    case
        when {{ expr }} ~ '^[0-9]{9,11}(\.[0-9]{1,9})?$'
            then {{ forkalytics.from_epoch_seconds('cast(' ~ expr ~ ' as double precision)') }}
    end
{%- endmacro %}
