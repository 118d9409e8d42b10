{#-
  What a data test reads from the model it tests. dbt calls this macro for every generic test (dbt's own
  default applies the test's `where` config); this version adds one thing: with the var
  `test_changed_rows_only` (set by each `forkalytics run` / scheduled cycle), a test of a model that has a
  `refreshed_at` column reads only the rows this invocation wrote (refreshed_at = its start, found through
  the model's refreshed_at index). A table model rewrites every row, so its tests still read everything; an
  incremental model's tests read what the run changed, so a cycle's tests do not grow with the history.

  That is sound for the tests used on incremental models here: rows kept from earlier runs passed these
  tests when they were written and are not changed since (delete+insert replaces a key's rows whole, so a
  duplicate key can only appear among the rows just written; not-null, accepted values and the child side
  of a relationship are properties of each row). The whole table is tested by every `dbt build` or
  `dbt test` run without the var, and by the scheduler's daily run of every test.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- if execute and forkalytics.test_changed_rows_only() and relation is not string -%}
        {%- set column_names = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
        {%- if 'refreshed_at' in column_names -%}
            {%- do conditions.append('refreshed_at = ' ~ forkalytics.run_started_timestamptz()) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro test_changed_rows_only() -%}
    {{ return(var('test_changed_rows_only', false) in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}
