{#-
  The reference time of a mart computed over post_metric_snapshots, as the body of a one-row, one-column
  (`as_of`) CTE: var `var_name` when it is set (a timestamp literal, e.g. engagement_as_of or trending_as_of),
  else the newest snapshot (max(captured_at), read from the index on captured_at).
-#}
{% macro snapshot_reference(var_name) -%}
    {%- set as_of = var(var_name, none) -%}
    {%- if as_of -%}
        select cast('{{ as_of }}' as timestamptz) as as_of
    {%- else -%}
        select max(snapshots.captured_at) as as_of
        from {{ ref('post_metric_snapshots') }} as snapshots
    {%- endif -%}
{%- endmacro %}
