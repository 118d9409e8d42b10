{#-
  Literal schema names: a model configured with `schema: staging` goes to `staging`, not
  `<target schema>_staging` (dbt's default). Models without a schema go to the target schema (marts).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
