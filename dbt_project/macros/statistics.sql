{#-
  Planner statistics for a table the moment it is built (a post-hook of every table and incremental model,
  set in dbt_project.yml). Without them the next model to read a new table is planned blind until autovacuum
  samples it: a max() over a fresh table re-run inside a nested loop cost minutes at 100k events, and a
  trending mart's plan flipped from seconds to a minute between two otherwise identical 1M builds.

  An incremental run that wrote few rows of a big table leaves its statistics as good as they were, and
  sampling it is not free (ANALYZE reads ~30,000 random rows and their wide columns: 2-8 s for each
  1M-row event or post table): the table is analysed when it never was, or when the rows this run wrote
  (refreshed_at = its start, by the refreshed_at index) are more than analyze_changed_fraction of its
  estimated rows (default 0.1, autovacuum's own threshold; autovacuum keeps sampling as changes accumulate).
  Range conditions past the sampled values (new refreshed_at, created_at) are estimated from the indexes'
  actual ends, so new rows are not invisible to the planner.
-#}
{% macro analyze_after_build() -%}
    {%- if model.config.materialized in ['table', 'incremental'] -%}
        {{ return(adapter.dispatch('analyze_after_build', 'forkalytics')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__analyze_after_build() -%}
    {%- set sampled_when_changed = model.config.materialized == 'incremental' and is_incremental()
        and 'refreshed_at' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
    {%- if not sampled_when_changed -%}
        analyze {{ this }}
    {%- else -%}
        {%- set table = adapter.quote(this.schema) ~ '.' ~ adapter.quote(this.identifier) -%}
        do $analyze$
        declare
            estimated double precision := (select reltuples from pg_class where oid = '{{ table }}'::regclass);
        begin
            if estimated < 0 or (
                select count(*) from {{ table }} where refreshed_at = {{ forkalytics.run_started_timestamptz() }}
            ) > {{ var('analyze_changed_fraction') }} * estimated then
                analyze {{ table }};
            end if;
        end
        $analyze$
    {%- endif -%}
{%- endmacro %}
