{#-
  Referential integrity over a composite key: every non-null (columns) of the model exists as
  (to_columns) in `to`. E.g. post_versions (instance_id, post_id) -> posts (instance_id, post_id).
-#}
{% test composite_relationships(model, columns, to, to_columns) %}
    with child as (
        -- `model` may be a filtered subquery with an alias of its own (get_where_subquery)
        select * from {{ model }}
    )

    select child.*
    from child
    where
        {% for column in columns -%}
            child.{{ column }} is not null {{ 'and' if not loop.last }}
        {% endfor %}
        and not exists (
            select 1
            from {{ to }} as parent
            where
                {% for column in columns -%}
                    parent.{{ to_columns[loop.index0] }} = child.{{ column }} {{ 'and' if not loop.last }}
                {% endfor %}
        )
{% endtest %}
