{#-
  SCD2 invariants, for any history table keyed by `entity` columns with a version sequence and a
  [valid_from, valid_to) range per version (valid_to null = open).
-#}

{#- No overlap: each range is well-formed, ends no later than the next version starts, and only the last
    version may be open. -#}
{% test scd2_no_overlap(model, entity, seq='version_seq', valid_from='valid_from', valid_to='valid_to') %}
    with ordered as (
        select
            {{ entity | join(', ') }},
            {{ seq }} as seq,
            {{ valid_from }} as range_from,
            {{ valid_to }} as range_to,
            lead({{ valid_from }}) over (partition by {{ entity | join(', ') }} order by {{ seq }}) as next_from,
            lead({{ seq }}) over (partition by {{ entity | join(', ') }} order by {{ seq }}) as next_seq
        from {{ model }}
    )
    select *
    from ordered
    where
        range_to < range_from
        or (next_seq is not null and range_to is null)
        or (next_seq is not null and next_from < range_to)
{% endtest %}

{#- No gap: each version ends exactly when the next one starts. -#}
{% test scd2_no_gap(model, entity, seq='version_seq', valid_from='valid_from', valid_to='valid_to') %}
    with ordered as (
        select
            {{ entity | join(', ') }},
            {{ seq }} as seq,
            {{ valid_to }} as range_to,
            lead({{ valid_from }}) over (partition by {{ entity | join(', ') }} order by {{ seq }}) as next_from
        from {{ model }}
    )
    select *
    from ordered
    where next_from is not null and (range_to is null or range_to <> next_from)
{% endtest %}

{#- Exactly one current version per entity, and it is the last one. -#}
{% test scd2_one_current(model, entity, seq='version_seq', current='is_current') %}
    select
        {{ entity | join(', ') }},
        count(case when {{ current }} then 1 end) as current_versions,
        max({{ seq }}) as last_seq,
        max(case when {{ current }} then {{ seq }} end) as current_seq
    from {{ model }}
    group by {{ entity | join(', ') }}
    having
        count(case when {{ current }} then 1 end) <> 1
        or max({{ seq }}) <> max(case when {{ current }} then {{ seq }} end)
{% endtest %}

{#- version_seq runs 1..n without holes or repeats per entity. -#}
{% test scd2_contiguous_seq(model, entity, seq='version_seq') %}
    select
        {{ entity | join(', ') }},
        min({{ seq }}) as first_seq,
        max({{ seq }}) as last_seq,
        count(*) as versions,
        count(distinct {{ seq }}) as distinct_seqs
    from {{ model }}
    group by {{ entity | join(', ') }}
    having min({{ seq }}) <> 1 or max({{ seq }}) <> count(*) or count(distinct {{ seq }}) <> count(*)
{% endtest %}
