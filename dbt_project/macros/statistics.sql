{#-
  Planner statistics for a table the moment it is built (a post-hook of every table and incremental model,
  set in dbt_project.yml). Without them the next model to read a new table is planned blind until autovacuum
  samples it: a max() over a fresh table re-run inside a nested loop cost minutes at 100k events, and a
  trending mart's plan flipped from seconds to a minute between two otherwise identical 1M builds.

  Every incremental run too, however few rows it wrote: skipping ANALYZE after small runs (2-8 s for each
  1M-row event table) was tried and made plans collapse. After a full build every row shares one
  refreshed_at, the statistics' most common value; until re-sampled, the planner estimates that no row is
  newer than it (an index's actual end is consulted only past a histogram, not past a complete MCV list), so
  the next model's "rows refreshed since" looked empty and got nested loops over 30,000 rows (minutes).
-#}
{% macro analyze_after_build() -%}
    {%- if model.config.materialized in ['table', 'incremental'] -%}
        {{ return(adapter.dispatch('analyze_after_build', 'forkalytics')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__analyze_after_build() -%}
    analyze {{ this }}
{%- endmacro %}
