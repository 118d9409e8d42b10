{#-
  Every group (e.g. each instance) has a row newer than `hours` hours before now: per-instance source
  freshness, which `dbt source freshness` (table-wide) cannot express. Fails one row per stale group.
-#}
{% test recency_by_group(model, group_by, field, hours) %}
    select
        {{ group_by }},
        max({{ field }}) as newest
    from {{ model }}
    group by {{ group_by }}
    having max({{ field }}) < {{ forkalytics.hours_before('current_timestamp', hours) }}
{% endtest %}
