{#-
  Uniqueness the warehouse enforces. A key that a valid unique index covers exactly (the key's columns, no
  expression, no predicate, no included column) cannot hold a duplicate: PostgreSQL refuses to store one. The
  `unique` and `unique_combination` tests of such a key look the index up in the catalog when they run, and
  read the table only when there is none (a warehouse built before the index, a dropped or invalid index, an
  engine without this check): at 1M events the unique tests of indexed keys read ~9 s of tables per full
  build to find what the index already rules out.

  NULLs: a unique index lets rows with a NULL in a key column repeat. dbt's `unique` ignores NULLs too, so
  its check is the index alone. `unique_combination` counts NULLs as equal, so the index stands in for it
  only when every key column is declared NOT NULL or has a `not_null` test of its own (unfiltered, at error
  severity), which fails on such a row.
-#}
{% macro key_has_unique_index(columns, nulls_tested=false) -%}
    {{ return(adapter.dispatch('key_has_unique_index', 'forkalytics')(columns, nulls_tested)) }}
{%- endmacro %}

{% macro default__key_has_unique_index(columns, nulls_tested) -%}
    {{ return(false) }}
{%- endmacro %}

{#- Called from a test's SQL: `model` here is the test node; the key is of the node the test is attached to. -#}
{% macro postgres__key_has_unique_index(columns, nulls_tested) -%}
    {%- set tested = graph.nodes.get(model.attached_node) if execute and model.attached_node else none -%}
    {%- if tested is none or not tested.relation_name -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set key = columns | map('lower') | sort | list -%}
    {%- set key_array = "array['" ~ key | join("', '") ~ "']::text[]" -%}
    {%- set found = run_query(
        "select
            exists (
                select 1
                from pg_index as ix
                where
                    ix.indrelid = to_regclass(" ~ dbt.string_literal(tested.relation_name) ~ ")
                    and ix.indisunique and ix.indisvalid and ix.indisready and ix.indislive
                    and ix.indpred is null and ix.indexprs is null
                    and ix.indnatts = " ~ key | length ~ "
                    and array(
                        select att.attname::text
                        from pg_attribute as att
                        where att.attrelid = ix.indrelid and att.attnum = any(ix.indkey::int2[])
                        order by 1
                    ) = " ~ key_array ~ "
            ),
            array_to_string(array(
                select att.attname::text
                from pg_attribute as att
                where
                    att.attrelid = to_regclass(" ~ dbt.string_literal(tested.relation_name) ~ ")
                    and att.attnotnull and att.attname = any(" ~ key_array ~ ")
            ), ',')") -%}
    {%- if not found.rows[0][0] -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if nulls_tested -%}
        {%- set covered = (found.rows[0][1] or '').split(',') -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'test'
                and node.attached_node == tested.unique_id and node.test_metadata
                and node.test_metadata.name == 'not_null' and not node.config.where
                and (node.config.severity or 'error') | lower == 'error' -%}
            {%- do covered.append((node.column_name or '') | lower) -%}
        {%- endfor -%}
        {%- for column in key if column not in covered -%}
            {{ return(false) }}
        {%- endfor -%}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}

{#- The (empty) result of a key test the unique index answers: no table read. -#}
{% macro key_enforced_by_unique_index(model, columns) -%}
    -- a valid unique index on ({{ columns | join(', ') }}) enforces this key (macros/tests/unique_index.sql)
    select {{ columns | join(', ') }}
    from {{ model }}
    where false
{%- endmacro %}

{#- dbt's `unique`, answered by the unique index when there is one. -#}
{% macro postgres__test_unique(model, column_name) -%}
    {%- if forkalytics.key_has_unique_index([column_name]) -%}
        {{ forkalytics.key_enforced_by_unique_index(model, [column_name]) }}
    {%- else -%}
        {{ dbt.default__test_unique(model, column_name) }}
    {%- endif -%}
{%- endmacro %}
