{#-
  Incremental helpers shared by the models that grow with the event log.

  Each incremental model remembers, per row, the newest `loaded_at` of the raw events it was built from
  (column `source_loaded_at` / `last_loaded_at`). On the next run it re-reads everything loaded since
  that watermark minus `incremental_lookback_hours`, and recomputes every post those events touch.
  Re-reading is idempotent, so the lookback only costs time; it protects against loads that commit out
  of order. Where the window can hold a whole bulk load (int_stream_events__deduped,
  int_status_observations), the models also skip the loads (load times) they already hold, found with a
  loose index scan, so a window that covers history does not make them re-read it.
-#}
{% macro incremental_since(watermark_column) -%}
    coalesce(
        {{ forkalytics.hours_before('max(' ~ watermark_column ~ ')', var('incremental_lookback_hours')) }},
        cast('1970-01-01 00:00:00+00' as timestamptz)
    )
{%- endmacro %}

{#- The dbt invocation's start time as timestamptz (for processed_at audit columns). -#}
{% macro run_started_timestamptz() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamptz)
{%- endmacro %}

{#- True when the text of a deleted post must be blanked in marts (var redact_deleted_content). -#}
{% macro redact_deleted() -%}
    {{ return(var('redact_deleted_content') in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}

{#- `expr`, or null when the row's post is deleted and redaction is on. -#}
{% macro redacted(expr, deleted_at_expr) -%}
    {%- if forkalytics.redact_deleted() -%}
        case when {{ deleted_at_expr }} is null then {{ expr }} end
    {%- else -%}
        {{ expr }}
    {%- endif -%}
{%- endmacro %}

{#- Aggregate strings with a separator in a given order (engine-specific). -#}
{% macro string_agg_ordered(expr, separator, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered', 'forkalytics')(expr, separator, order_by)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(expr, separator, order_by) -%}
    string_agg({{ expr }}, '{{ separator }}' order by {{ order_by }})
{%- endmacro %}

{#- The host (and port) of a base URL: https://mastodon.social -> mastodon.social. -#}
{% macro url_host(expr) -%}
    lower(substring({{ expr }} from '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]+)'))
{%- endmacro %}

{#-
  Pre-hook of an incremental model whose query joins a set the planner cannot estimate (the posts touched
  since the last run): without nested loops for the rest of the model's transaction, it hash-joins, which
  costs little when the set is small and avoids a nested loop over a set misestimated a thousandfold.
-#}
{% macro hash_joins_only() -%}
    {{ return(adapter.dispatch('hash_joins_only', 'forkalytics')()) }}
{%- endmacro %}

{% macro default__hash_joins_only() -%}
    set local enable_nestloop = off
{%- endmacro %}
