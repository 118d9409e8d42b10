{#-
  Planner statistics for a table the moment it is built (a post-hook of every table and incremental model,
  set in dbt_project.yml). Without them the next model to read a new table is planned blind until autovacuum
  samples it: a max() over a fresh table re-run inside a nested loop cost minutes at 100k events, and a
  trending mart's plan flipped from seconds to a minute between two otherwise identical 1M builds.

  Every incremental run too, however few rows it wrote: skipping ANALYZE after small runs was tried and made
  plans collapse. After a full build every row shares one refreshed_at, the statistics' most common value;
  until re-sampled, the planner estimates that no row is newer than it (an index's actual end is consulted
  only past a histogram, not past a complete MCV list), so the next model's "rows refreshed since" looked
  empty and got nested loops over 30,000 rows (minutes).

  But not every column every time. ANALYZE reads a sample of 300 x default_statistics_target rows (30,000)
  from pages all over the table: at 1M events 2-5 s per event table, summed ~12 s of an incremental cycle,
  twice what it is at 100k, for statistics that 36,000 new rows among a million barely move. So an incremental
  model is analysed whole on its first build and when the run changed (inserted, updated, deleted: this
  transaction's counts) at least var analyze_changed_fraction of it; after a smaller run only its time columns
  are (timestamptz, timestamp, date: refreshed_at, created_at, the load times...), whose range every load
  extends past the histogram, from a smaller sample (var analyze_time_columns_statistics_target): 0.5–1.1 s
  instead of 2.4 s for the deduplicated events at 1M. The other columns are re-sampled by autovacuum, which
  analyses a table once a tenth of it changed since its last whole ANALYZE (autovacuum_analyze_scale_factor;
  a partial ANALYZE does not reset that count). PostgreSQL's own count cannot decide here: a whole ANALYZE run
  in the transaction that wrote the rows (as this hook is) has the transaction's changes added to the count
  when it commits, so the run after a full build would always see the whole table as changed.
-#}
{% macro analyze_after_build() -%}
    {%- if model.config.materialized in ['table', 'incremental'] -%}
        {{ return(adapter.dispatch('analyze_after_build', 'forkalytics')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__analyze_after_build() -%}
    analyze {{ this }}
{%- endmacro %}

{% macro postgres__analyze_after_build() -%}
    {%- if model.config.materialized != 'incremental' -%}
        analyze {{ this }}
    {%- else -%}
        do $analyze$
        declare
            table_rows double precision;
            changed_rows double precision;
            time_columns text;
            sample_target text := current_setting('default_statistics_target');
        begin
            select
                tables.reltuples,
                coalesce(this_transaction.n_tup_ins + this_transaction.n_tup_upd + this_transaction.n_tup_del, 0)
            into table_rows, changed_rows
            from pg_catalog.pg_class as tables
            left join pg_catalog.pg_stat_xact_user_tables as this_transaction on tables.oid = this_transaction.relid
            where tables.oid = '{{ this }}'::regclass;

            select string_agg(quote_ident(columns.attname), ', ' order by columns.attnum)
            into time_columns
            from pg_catalog.pg_attribute as columns
            where
                columns.attrelid = '{{ this }}'::regclass
                and columns.attnum > 0
                and not columns.attisdropped
                and columns.atttypid in ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype);

            if table_rows < 0 or time_columns is null
                or changed_rows >= {{ var('analyze_changed_fraction') | float }} * table_rows then
                execute 'analyze {{ this }}';
            else
                perform set_config(
                    'default_statistics_target', '{{ var('analyze_time_columns_statistics_target') | int }}', true
                );
                execute 'analyze {{ this }} (' || time_columns || ')';
                perform set_config('default_statistics_target', sample_target, true);
            end if;
        end
        $analyze$
    {%- endif -%}
{%- endmacro %}
