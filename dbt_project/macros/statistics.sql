{#-
  Planner statistics for a table the moment it is built (a post-hook of every table and incremental model,
  set in dbt_project.yml). Without them the next model to read a new table is planned blind until autovacuum
  samples it: a max() over a fresh table re-run inside a nested loop cost minutes at 100k events, and a
  trending mart's plan flipped from seconds to a minute between two otherwise identical 1M builds.
-#}
{% macro analyze_after_build() -%}
    {%- if model.config.materialized in ['table', 'incremental'] -%}
        {{ return(adapter.dispatch('analyze_after_build', 'forkalytics')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__analyze_after_build() -%}
    analyze {{ this }}
{%- endmacro %}
