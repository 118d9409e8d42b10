{#-
  Query-planner idioms, dispatched per engine (PostgreSQL implementations here).
-#}

{#-
  A column that makes the subquery selecting it an evaluation boundary: each of the subquery's columns is
  computed once per row, where PostgreSQL would otherwise flatten the subquery into the query around it and
  repeat the expression behind a column wherever the column is used (a JSON field extracted, a payload
  decompressed, a regular expression run once per use). `clock_timestamp()` does it because it is volatile
  (a subquery with a volatile column is never flattened) and parallel safe, so, unlike the usual fence
  (`offset 0`), the outer query's filters on the other columns still reach the tables and their indexes, and
  the subquery still runs in parallel workers.

  Two things to know when reading such a subquery (or a view built of them):
  - a CTE that reads it contains a volatile function, so PostgreSQL materialises the CTE even when it is
    read once (`not materialized` is ignored for it): read it in the main query, not in a CTE, when the
    rows are many;
  - an `order by ... limit` over it does not walk the underlying table's index (the subquery's order is
    not known outside it): walk an index over the table itself.
-#}
{% macro evaluation_fence(name) -%}
    {{ return(adapter.dispatch('evaluation_fence', 'forkalytics')(name)) }}
{%- endmacro %}

{% macro default__evaluation_fence(name) -%}
    clock_timestamp() as {{ name }}
{%- endmacro %}

{#-
  A pre-hook that makes PostgreSQL weigh parallel plans fairly for the rest of the model's transaction.
  Its cost model prices a regular expression, a JSON parse or a hash like an addition, so for a query whose
  work is mostly such functions per row it sees too little to gain from parallel workers to pay for sending
  their rows back (parallel_tuple_cost, 0.1 per row by default): int_status_observations' full build ran on
  one core. At 0.01 per row the planner sends the rows through a Gather when workers can share the scan.
-#}
{% macro prefer_parallel_plans() -%}
    {{ return(adapter.dispatch('prefer_parallel_plans', 'forkalytics')()) }}
{%- endmacro %}

{% macro default__prefer_parallel_plans() -%}
    set local parallel_tuple_cost = 0.01
{%- endmacro %}
