{#-
  Post-hook of an incremental hourly series (one row per instance and hour, from an instance's first active
  hour to the newest active hour of any instance, quiet hours as zeros): deletes the rows outside that range
  once the run has written its hours. delete+insert replaces only the keys a run writes, so an instance's
  first hours, or the newest hours, that lost every post would otherwise stay. `active` says which rows have
  activity; every active hour is correct after the insert (recomputed now or unchanged), so the range is
  taken from the table itself.
-#}
{% macro trim_hourly_series(active) -%}
    delete from {{ this }} as target
    where not exists (
        select 1
        from (
            select
                instance_id,
                min(hour_ts) as first_hour
            from {{ this }}
            where {{ active }}
            group by instance_id
        ) as bounds
        where
            bounds.instance_id = target.instance_id
            and target.hour_ts >= bounds.first_hour
            and target.hour_ts <= (select max(newest.hour_ts) from {{ this }} as newest where {{ active }})
    )
{%- endmacro %}
