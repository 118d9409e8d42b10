{#-
  Tables are created with `toast_tuple_target` set to the `table_toast_tuple_target` var (8160, a whole
  page): PostgreSQL then leaves a row uncompressed and in line until it no longer fits a page, instead of
  compressing every value of a row wider than ~2 KB. The event tables carry each event's ~2.3 KB payload
  (and the columns parsed from it): with the default, every build compresses it with pglz on write and
  decompresses it on every read, which was the largest single cost of a full build. The tables take more
  disk (the payload ~1.7 times); `table_toast_tuple_target: null` keeps PostgreSQL's default.

  dbt-postgres' `postgres__create_table_as`, with the storage parameter added (tables, the incremental
  models' temporary tables and full builds alike).
-#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set unlogged = config.get('unlogged', default=false) -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {%- set toast_tuple_target = var('table_toast_tuple_target', none) -%}

    {{ sql_header if sql_header is not none }}

    create {% if temporary -%}
        temporary
    {%- elif unlogged -%}
        unlogged
    {%- endif %} table {{ relation }}
    {% set contract_config = config.get('contract') %}
    {% if contract_config.enforced %}
        {{ get_assert_columns_equivalent(sql) }}
    {% endif -%}
    {% if contract_config.enforced and (not temporary) -%}
        {{ get_table_columns_and_constraints() }}
        {{ forkalytics.table_storage_parameters(toast_tuple_target) }};
        insert into {{ relation }} (
            {{ adapter.dispatch('get_column_names', 'dbt')() }}
        )
        {%- set sql = get_select_subquery(sql) %}
    {% else %}
        {{ forkalytics.table_storage_parameters(toast_tuple_target) }}
        as
    {% endif %}
    (
        {{ sql }}
    );
{%- endmacro %}

{% macro table_storage_parameters(toast_tuple_target) -%}
    {%- if toast_tuple_target is not none -%}
        with (toast_tuple_target = {{ toast_tuple_target | int }})
    {%- endif -%}
{%- endmacro %}

{#-
  Post-hook of every table and incremental model (dbt_project.yml): a table created before the var was set
  (or changed), such as an incremental model that is never rebuilt, gets the storage parameter for the rows
  written from now on; no statement runs when it has it already.
-#}
{% macro table_storage_after_build() -%}
    {%- if model.config.materialized in ['table', 'incremental'] -%}
        {{ return(adapter.dispatch('table_storage_after_build', 'forkalytics')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro postgres__table_storage_after_build() -%}
    {%- set toast_tuple_target = var('table_toast_tuple_target', none) -%}
    {%- set wanted = none if toast_tuple_target is none else 'toast_tuple_target=' ~ (toast_tuple_target | int) -%}
    do $storage$
    declare
        stored text := (
            select option
            from pg_class, unnest(coalesce(reloptions, '{}')) as option
            where pg_class.oid = '{{ this }}'::regclass and option like 'toast_tuple_target=%'
        );
    begin
        if stored is distinct from {{ "null" if wanted is none else "'" ~ wanted ~ "'" }} then
            execute '{{ "alter table " ~ this ~ (" reset (toast_tuple_target)" if wanted is none
                       else " set (" ~ wanted ~ ")") | replace("'", "''") }}';
        end if;
    end
    $storage$
{%- endmacro %}
