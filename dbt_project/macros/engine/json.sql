{#-
  JSON idioms, one macro each, dispatched per engine (PostgreSQL implementations here; a Spark
  implementation is one more `spark__` macro per idiom). `path` is a list of object keys.
-#}

{#- The JSON value at `path` (json type), null when absent or when `expr` is not an object. -#}
{% macro json_get(expr, path) -%}
    {{ return(adapter.dispatch('json_get', 'forkalytics')(expr, path)) }}
{%- endmacro %}

{% macro default__json_get(expr, path) -%}
    ({{ expr }} #> '{ {{- path | join(',') -}} }')
{%- endmacro %}

{#- The value at `path` as text (a JSON string unquoted), null when absent or JSON null. -#}
{% macro json_get_text(expr, path) -%}
    {{ return(adapter.dispatch('json_get_text', 'forkalytics')(expr, path)) }}
{%- endmacro %}

{% macro default__json_get_text(expr, path) -%}
    ({{ expr }} #>> '{ {{- path | join(',') -}} }')
{%- endmacro %}

{#- The JSON type of a value: object, array, string, number, boolean, null (SQL null when absent). -#}
{% macro json_type(expr) -%}
    {{ return(adapter.dispatch('json_type', 'forkalytics')(expr)) }}
{%- endmacro %}

{% macro default__json_type(expr) -%}
    jsonb_typeof({{ expr }})
{%- endmacro %}

{#- A scalar JSON value (e.g. the bare id of a delete) as text. -#}
{% macro json_scalar_text(expr) -%}
    {{ return(adapter.dispatch('json_scalar_text', 'forkalytics')(expr)) }}
{%- endmacro %}

{% macro default__json_scalar_text(expr) -%}
    ({{ expr }} #>> '{}')
{%- endmacro %}

{#-
  JSON array to rows: a join clause adding `<alias>.value` (json) and `<alias>.ordinal` (1-based) per
  element. A value that is not an array yields no rows (never an error).
-#}
{% macro json_array_rows(expr, alias) -%}
    {{ return(adapter.dispatch('json_array_rows', 'forkalytics')(expr, alias)) }}
{%- endmacro %}

{% macro default__json_array_rows(expr, alias) -%}
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof({{ expr }}) = 'array' then {{ expr }} else '[]'::jsonb end
    ) with ordinality as {{ alias }} (value, ordinal)
{%- endmacro %}

{#- Aggregate values into a JSON array in the given order (an empty array when there are none). -#}
{% macro json_array_agg(expr, order_by) -%}
    {{ return(adapter.dispatch('json_array_agg', 'forkalytics')(expr, order_by)) }}
{%- endmacro %}

{% macro default__json_array_agg(expr, order_by) -%}
    coalesce(jsonb_agg({{ expr }} order by {{ order_by }}), '[]'::jsonb)
{%- endmacro %}

{#- The empty JSON array literal. -#}
{% macro json_empty_array() -%}
    {{ return(adapter.dispatch('json_empty_array', 'forkalytics')()) }}
{%- endmacro %}

{% macro default__json_empty_array() -%}
    '[]'::jsonb
{%- endmacro %}

{#- The JSON column type used in contracts and casts. -#}
{% macro json_type_name() -%}
    {{ return(adapter.dispatch('json_type_name', 'forkalytics')()) }}
{%- endmacro %}

{% macro default__json_type_name() -%}
    jsonb
{%- endmacro %}

{#-
  Lookup of the rows whose JSON array of objects (e.g. a version's mentions) holds an object with `id`
  (as text) = `id_expr`, and the index that serves it (a post-hook of the model holding the array). The
  ids are compared as text, like json_get_text(element, ['id']); elements without an id are skipped.
-#}
{% macro json_array_has_id(array_expr, id_expr) -%}
    {{ return(adapter.dispatch('json_array_has_id', 'forkalytics')(array_expr, id_expr)) }}
{%- endmacro %}

{% macro default__json_array_has_id(array_expr, id_expr) -%}
    jsonb_path_query_array({{ array_expr }}, '$[*].id.string()', '{}', true) @> jsonb_build_array({{ id_expr }})
{%- endmacro %}

{% macro json_array_ids_index(column) -%}
    {{ return(adapter.dispatch('json_array_ids_index', 'forkalytics')(column)) }}
{%- endmacro %}

{#-
  PostgreSQL: a GIN index takes the rows an incremental run inserts into its pending list, which every
  lookup reads whole until a vacuum merges it (30,000 new versions made each lookup 2 ms: 20 s for the
  touched media of one run); the hook merges it at once (0.1 s per run).
-#}
{% macro default__json_array_ids_index(column) -%}
    create index if not exists {{ this.identifier }}_{{ column }}_ids_idx on {{ this }}
    using gin (jsonb_path_query_array({{ column }}, '$[*].id.string()', '{}', true) jsonb_path_ops);
    {{ forkalytics.gin_merge_pending(this.identifier ~ '_' ~ column ~ '_ids_idx') }}
{%- endmacro %}

{#- Merge a GIN index's pending list (the index of `this` named `index_name`) into its tree. -#}
{% macro gin_merge_pending(index_name) -%}
    select gin_clean_pending_list(cast('{{ this.schema }}.{{ index_name }}' as regclass))
{%- endmacro %}

{#- Lookup of the rows whose JSON array of strings (e.g. a version's hashtag names) holds `text_expr`. -#}
{% macro json_array_has_text(array_expr, text_expr) -%}
    {{ return(adapter.dispatch('json_array_has_text', 'forkalytics')(array_expr, text_expr)) }}
{%- endmacro %}

{% macro default__json_array_has_text(array_expr, text_expr) -%}
    {{ array_expr }} @> jsonb_build_array({{ text_expr }})
{%- endmacro %}

{% macro json_array_index(column) -%}
    {{ return(adapter.dispatch('json_array_index', 'forkalytics')(column)) }}
{%- endmacro %}

{% macro default__json_array_index(column) -%}
    create index if not exists {{ this.identifier }}_{{ column }}_gin_idx on {{ this }}
    using gin ({{ column }} jsonb_path_ops);
    {{ forkalytics.gin_merge_pending(this.identifier ~ '_' ~ column ~ '_gin_idx') }}
{%- endmacro %}
