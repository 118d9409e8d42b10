{#-
  A deterministic surrogate key: the md5 (hex) of the given expressions, null-safe and separated so
  ('a', 'bc') and ('ab', 'c') differ. Stable across runs and full refreshes.
-#}
{% macro hash_key(expressions) -%}
    {{ return(adapter.dispatch('hash_key', 'forkalytics')(expressions)) }}
{%- endmacro %}

{% macro default__hash_key(expressions) -%}
    md5(concat_ws(
        '|'
        {%- for expr in expressions %},
        coalesce(cast({{ expr }} as text), '\N')
        {%- endfor %}
    ))
{%- endmacro %}
