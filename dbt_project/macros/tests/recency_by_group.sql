{#-
  Every group (e.g. each instance) has a row newer than `hours` hours before now: per-instance source
  freshness, which `dbt source freshness` (table-wide) cannot express. Fails one row per stale group.

  The groups are walked through an index leading with `group_by` (distinct_by_index: a probe per group) and
  each group's newest row is one more probe of an index on (`group_by`, `field`): raw's (instance_id,
  received_at) answers it in milliseconds where a group by read all the events (1.3 s at 1M, growing with the
  history). Without such an index it still gives the same answer, reading the rows once per group.
-#}
{% test recency_by_group(model, group_by, field, hours) %}
    select
        groups.{{ group_by }},
        newest.newest
    from ({{ forkalytics.distinct_by_index(model, [group_by]) }}) as groups
    cross join lateral (
        select max(grouped.{{ field }}) as newest
        from {{ model }} as grouped
        where grouped.{{ group_by }} = groups.{{ group_by }}
    ) as newest
    where newest.newest < {{ forkalytics.hours_before('current_timestamp', hours) }}
{% endtest %}
