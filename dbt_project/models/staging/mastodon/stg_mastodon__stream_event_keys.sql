{#-
  One row per raw event as received (duplicate deliveries included), with only its keys and load: the
  columns of stg_mastodon__stream_events that come straight from the source, named and typed the same way.
  A plain select that PostgreSQL flattens into the query reading it, so a walk over raw's indexes (the
  loads not merged yet, macros/incremental.sql `distinct_by_index`) or a read of the keys alone goes
  straight to the table: stg_mastodon__stream_events computes its fields in fenced subqueries, which hide
  the order of raw's indexes from an `order by ... limit` and cost a little on every row.
-#}
select {{ raw_event_key_columns('source_events') }}
from {{ source('mastodon_raw', 'stream_events') }} as source_events
