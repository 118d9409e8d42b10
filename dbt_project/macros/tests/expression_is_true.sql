{#- Every row satisfies `expression` (optionally only rows matching `where` via the test config). -#}
{% test expression_is_true(model, expression) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
