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
        {%- set load_column = forkalytics.tested_node_meta(relation).get('changed_rows_load_column') -%}
        {%- if load_column -%}
            {%- if model.test_metadata is not none and model.test_metadata.name in forkalytics.row_level_tests() -%}
                {%- set newest = forkalytics.newest_merged_load() -%}
                {%- if newest is not none -%}
                    {%- do conditions.append(adapter.quote(load_column) ~ ' > ' ~ newest) -%}
                {%- endif -%}
            {%- endif -%}
        {%- else -%}
            {%- set column_names = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
            {%- if 'refreshed_at' in column_names -%}
                {%- do conditions.append('refreshed_at = ' ~ forkalytics.run_started_timestamptz()) -%}
            {%- endif -%}
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

{#- The config meta of the model or source whose relation a test reads (empty when not found). -#}
{% macro tested_node_meta(relation) -%}
    {%- set wanted = relation | string -%}
    {%- for node_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(node_id) or graph.sources.get(node_id) -%}
        {%- if node and node.relation_name == wanted -%}
            {{ return(node.config.meta or {}) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return({}) }}
{%- endmacro %}

{#- Generic tests whose verdict is a property of each row (or, for unique_combination, of the rows read
    together): sound on a subset of the rows. -#}
{% macro row_level_tests() -%}
    {{ return(['not_null', 'accepted_values', 'unique_combination', 'expression_is_true']) }}
{%- endmacro %}

{#- The newest dlt load id int_stream_events__deduped holds, as a SQL literal; none when it does not exist
    or is empty (then every row is new). One probe of its (loaded_at, dlt_load_id) index. -#}
{% macro newest_merged_load() -%}
    {#- from the graph, not ref(): the tests calling this do not depend on the model -#}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.int_stream_events__deduped') -%}
    {%- set deduped = adapter.get_relation(node.database, node.schema, node.alias) if node else none -%}
    {%- if deduped is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query('select dlt_load_id from ' ~ deduped
        ~ ' where dlt_load_id is not null order by loaded_at desc, dlt_load_id desc limit 1') -%}
    {%- if result.rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return("'" ~ result.rows[0][0] ~ "'") }}
{%- endmacro %}
