{#- The combination of `columns` is unique (composite primary keys such as (post_id, instance_id)); answered by
    the unique index on exactly these columns when there is one (macros/tests/unique_index.sql). -#}
{% test unique_combination(model, columns) %}
    {%- if forkalytics.key_has_unique_index(columns, nulls_tested=true) %}
        {{ forkalytics.key_enforced_by_unique_index(model, columns) }}
    {%- else %}
    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
    {%- endif %}
{% endtest %}
