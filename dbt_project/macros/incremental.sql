{#-
  Incremental helpers shared by the models that grow with the event log.

  How models find what changed is `refreshed_at` (last_refreshed_at below). Only int_stream_events__deduped,
  the one model that reads raw, still uses a window of load time: it re-reads the dlt loads of the last
  `incremental_lookback_hours` before its newest one that it has not merged (loads can commit out of
  order; re-reading is idempotent), found by loose index scans.
-#}
{% macro incremental_since(watermark_column) -%}
    coalesce(
        {{ forkalytics.hours_before('max(' ~ watermark_column ~ ')', var('incremental_lookback_hours')) }},
        cast('1970-01-01 00:00:00+00' as timestamptz)
    )
{%- endmacro %}

{#-
  Change tracking from model to model. Every model that is built incrementally from the event log carries
  `refreshed_at`: the start of the dbt invocation that last wrote the row (run_started_timestamptz). A model
  downstream reads only the upstream rows refreshed after its own newest row was written:

      where upstream.refreshed_at > {{ forkalytics.last_refreshed_at() }}

  Within one invocation every model runs after its parents, so the rows a parent wrote before this model's
  last run were read by that run; rows written since (by this invocation, or by a run of the parent alone)
  have a newer refreshed_at. Unlike a window of load time, this does not grow with a bulk load or a replay:
  an incremental run reads what changed since the last run, whenever it was loaded. The watermark is
  inlined as a literal (one query when the model runs), so the planner estimates the changed rows from the
  parent's statistics (fresh: every model is analysed when built) instead of guessing.
  A model that wrote nothing has no watermark (first run, rows from before the column existed, whose
  refreshed_at is null, or a table that has no such column yet): it reads every parent row that has a
  refreshed_at.
-#}
{% macro last_refreshed_at() -%}
    {%- set watermark = none -%}
    {%- if is_incremental() and model.resource_type == 'unit_test' -%}
        {#- a unit test's `this` is a fixture (a CTE), not a table to query now -#}
        {%- do return("coalesce((select max(refreshed_at) from " ~ this ~ "), cast('-infinity' as timestamptz))") -%}
    {%- elif execute and is_incremental() -%}
        {#- a table built before it had the column (e.g. a mart that was a table) gets it this run -#}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- if 'refreshed_at' in columns -%}
            {%- set result = run_query('select cast(max(refreshed_at) as text) from ' ~ this) -%}
            {%- set watermark = result.columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {%- if watermark is none -%}
        cast('-infinity' as timestamptz)
    {%- else -%}
        cast('{{ watermark }}' as timestamptz)
    {%- endif -%}
{%- endmacro %}

{#- The index every model with refreshed_at gets, so parent rows changed since a run are found by range. -#}
{% macro refreshed_at_index() -%}
    create index if not exists {{ this.identifier }}_refreshed_idx on {{ this }} (refreshed_at)
{%- endmacro %}

{#- The dbt invocation's start time as timestamptz (for processed_at audit columns). -#}
{% macro run_started_timestamptz() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamptz)
{%- endmacro %}

{#- True when the text of a deleted post must be blanked in marts (var redact_deleted_content). -#}
{% macro redact_deleted() -%}
    {{ return(var('redact_deleted_content') in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}

{#- `expr`, or null when the row's post is deleted and redaction is on. -#}
{% macro redacted(expr, deleted_at_expr) -%}
    {%- if forkalytics.redact_deleted() -%}
        case when {{ deleted_at_expr }} is null then {{ expr }} end
    {%- else -%}
        {{ expr }}
    {%- endif -%}
{%- endmacro %}

{#- Aggregate strings with a separator in a given order (engine-specific). -#}
{% macro string_agg_ordered(expr, separator, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered', 'forkalytics')(expr, separator, order_by)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(expr, separator, order_by) -%}
    string_agg({{ expr }}, '{{ separator }}' order by {{ order_by }})
{%- endmacro %}

{#- The host (and port) of a base URL: https://mastodon.social -> mastodon.social. -#}
{% macro url_host(expr) -%}
    lower(substring({{ expr }} from '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]+)'))
{%- endmacro %}

{#-
  Pre-hook of an incremental model whose query joins a set the planner cannot estimate (the posts touched
  since the last run): without nested loops for the rest of the model's transaction, it hash-joins, which
  costs little when the set is small and avoids a nested loop over a set misestimated a thousandfold.
-#}
{% macro hash_joins_only() -%}
    {{ return(adapter.dispatch('hash_joins_only', 'forkalytics')()) }}
{%- endmacro %}

{% macro default__hash_joins_only() -%}
    set local enable_nestloop = off
{%- endmacro %}

{#-
  Pre-hook of an incremental model that finds a few rows per touched key through an index the planner
  undervalues (a GIN index on a JSON array: it estimated a hash join over every row cheaper than 10,000
  lookups, and took 8.7 s where the lookups take 0.5 s): without hash and merge joins for the rest of the
  model's transaction, every join is a lookup. Only for the incremental run (a full build joins everything).
-#}
{% macro index_lookups_only() -%}
    {{ return(adapter.dispatch('index_lookups_only', 'forkalytics')()) }}
{%- endmacro %}

{% macro default__index_lookups_only() -%}
    set local enable_hashjoin = off;
    set local enable_mergejoin = off
{%- endmacro %}

{#-
  Post-hook: an index on `columns` of an incremental model, named `<model>_<name>_idx`. A hook rather than
  the `indexes` config, which dbt applies only when it creates the table: a mart that was a table before it
  became incremental (or a warehouse built before the index was added) gets it on its next run too.
  `unique` makes it the model's enforced key, which its key test then reads from the catalog
  (macros/tests/unique_index.sql); an index of that name built before stays as it is.
-#}
{% macro lookup_index(name, columns, unique=false) -%}
    create {{ 'unique ' if unique }}index if not exists {{ this.identifier }}_{{ name }}_idx
    on {{ this }} ({{ columns | join(', ') }})
{%- endmacro %}

{#-
  A filter that finds the rows of a few keys through a (instance_id, key) index as one bitmap scan: the
  keys come as arrays (the instances are few; PostgreSQL's btree searches each array value). Incremental
  models that join a touched set after window functions use it with hash_joins_only: the planner cannot
  estimate how many rows survive a rank filter (it guessed 2 for 30,000) and nested-looped over them for
  minutes; without nested loops, this keeps the read of the touched keys an index read.
-#}
{% macro touched_keys_filter(instance_column, key_column, touched_cte, touched_key_column) -%}
    {{ instance_column }} = any(array(select distinct touched.instance_id from {{ touched_cte }} as touched))
    and {{ key_column }} = any(array(select touched.{{ touched_key_column }} from {{ touched_cte }} as touched))
{%- endmacro %}

{#-
  The distinct values of `columns` in `relation`, one index probe each (a loose index scan): the first row in
  the index order of `columns` (from the rows meeting `start_condition`, written against the alias
  `scanned`), then repeatedly the first row past the previous one. Needs a btree index leading with
  `columns`; costs a probe per distinct value instead of a read of every row (a few dlt loads or instances
  among a million events). A query: use it as a CTE's or subquery's body; rows come out as `walk`'s columns.
-#}
{% macro distinct_by_index(relation, columns, start_condition=none) -%}
    {%- set scanned, later, following, walked = [], [], [], [] -%}
    {%- for column in columns -%}
        {%- do scanned.append('scanned.' ~ column) -%}
        {%- do later.append('later.' ~ column) -%}
        {%- do following.append('next_row.' ~ column) -%}
        {%- do walked.append('walk.' ~ column) -%}
    {%- endfor -%}
    with recursive walk as (
        (
            select {{ scanned | join(', ') }}
            from {{ relation }} as scanned
            {% if start_condition %}where {{ start_condition }}{% endif %}
            order by {{ scanned | join(', ') }}
            limit 1
        )
        union all
        select {{ following | join(', ') }}
        from walk
        cross join lateral (
            select {{ later | join(', ') }}
            from {{ relation }} as later
            where ({{ later | join(', ') }}) > ({{ walked | join(', ') }})
            order by {{ later | join(', ') }}
            limit 1
        ) as next_row
    )

    select {{ walked | join(', ') }} from walk
{%- endmacro %}
