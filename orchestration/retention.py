"""``forkalytics retention``: keep ``raw.stream_events`` to a window without losing history.

Three steps, each safe to repeat and to interrupt:

1. **Redaction.** Raw rows that carry the Status of a deleted post (``marts.posts.deleted_at`` set: a
   ``delete`` event or a confirmed miss on refresh) get their text blanked (``content``, ``spoiler_text``,
   ``text``, ``card``, ``poll``, media descriptions; an unparseable payload is replaced whole). The redacted
   payload keeps the row's ``event_id`` under ``forkalytics_redacted`` (``extract.events.REDACTED_KEY``), so
   the row stays the same event for dbt, and the replay of its archive line reproduces it exactly.
2. **Archive, then delete.** Rows received more than ``retention.raw_events_days`` ago go to a gzip JSON Lines
   file under ``retention.archive_dir`` — the format ``forkalytics load --from`` reads, with each row's
   ``source`` — and are deleted in the same REPEATABLE READ transaction that selected them, after the file is
   fsynced: exactly the archived rows are deleted, or nothing (the file is then removed).
3. **Partitions.** With ``warehouse.partition_raw_by_month`` month partitions left empty are dropped.

Only rows dbt has incorporated are touched: their ``event_id`` is in ``intermediate.int_stream_events__deduped``
and in ``marts.stream_events``, and they were loaded before the newest load dbt has read minus
``incremental_lookback_hours`` (the window incremental models re-read). Everything downstream of
``int_stream_events__deduped`` is rebuilt from it; that model has ``full_refresh: false`` (dbt_project.yml), so
a ``dbt build --full-refresh`` after pruning keeps the history (docs/decisions.md).

Metric snapshots are thinned by the ``post_metric_snapshots`` model itself (dbt vars
``metric_snapshots_keep_all_days``, ``metric_snapshots_keep_hourly_days``).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg2
import yaml
from psycopg2 import sql

from extract.events import ID_EVENTS, REDACTED_KEY, STATUS_EVENTS, RawEvent, normalise
from extract.raw_schema import is_partitioned
from orchestration.config import Config
from orchestration.dbt_runner import REPO_ROOT
from orchestration.errors import UserError
from orchestration.warehouse import Warehouse

log = logging.getLogger(__name__)

ARCHIVE_FETCH = 5000

_SETTLED = """
    exists (select 1 from intermediate.int_stream_events__deduped as kept where kept.event_id = raw_rows.event_id)
    and exists (select 1 from marts.stream_events as logged where logged.event_id = raw_rows.event_id)
    and to_timestamp(cast(raw_rows._dlt_load_id as double precision)) < %(settled_before)s
"""

_COLUMNS = ("event_id, instance_id, instance_url, stream, source, event_type, received_at, payload, "
            "payload_status_id, payload_error, payload_escaped, payload_raw_base64, batch_key, _dlt_load_id")


@dataclass
class RetentionReport:
    """What one retention run did."""

    settled_before: datetime | None = None
    cutoff: datetime | None = None
    redacted: int = 0
    archived: int = 0
    deleted: int = 0
    not_incorporated: int = 0  # rows older than the cutoff that dbt has not incorporated yet: kept
    archive: Path | None = None
    dropped_partitions: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.redacted:,} raw payloads of deleted posts redacted",
                 f"{self.archived:,} raw events older than {self.cutoff:%Y-%m-%d %H:%M} UTC archived"
                 + (f" to {self.archive}" if self.archive else "") + f" and {self.deleted:,} deleted"]
        if self.not_incorporated:
            parts.append(f"{self.not_incorporated:,} older events kept until dbt has built them "
                         "(run forkalytics run first)")
        if self.dropped_partitions:
            parts.append(f"empty partitions dropped: {', '.join(self.dropped_partitions)}")
        return "; ".join(parts)


def lookback_hours() -> float:
    """dbt's ``incremental_lookback_hours`` (dbt_project.yml), the window incremental models re-read."""
    try:
        project = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text(encoding="utf-8"))
        return float(project["vars"]["incremental_lookback_hours"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return 6.0


# Media keep their id, type, blurhash and meta (counts and types stay right); descriptions and URLs go.
_MEDIA_TEXT_AND_URLS = ("description", "url", "preview_url", "remote_url", "text_url", "preview_remote_url")


def redact_status(payload: dict[str, Any], event_id: str) -> dict[str, Any]:
    """A Status with its text removed: content, spoiler, plain text, card, poll, media descriptions and URLs."""
    redacted = dict(payload)
    for key in ("content", "spoiler_text"):
        if key in redacted:
            redacted[key] = ""
    for key in ("text", "card", "poll"):
        if key in redacted:
            redacted[key] = None
    media = redacted.get("media_attachments")
    if isinstance(media, list):
        redacted["media_attachments"] = [{**item, **dict.fromkeys(_MEDIA_TEXT_AND_URLS)} if isinstance(item, dict)
                                         else item for item in media]
    redacted[REDACTED_KEY] = event_id
    return redacted


def redacted_payload(payload: Any, escaped: bool, event_id: str) -> dict[str, Any]:
    """The redacted payload of a row: the Status without its text, or (an unparseable payload) just the mark."""
    if escaped or not isinstance(payload, dict):
        return {REDACTED_KEY: event_id}
    return redact_status(payload, event_id)


def redacted_bytes(payload: Any, escaped: bool, event_id: str) -> bytes:
    """:func:`redacted_payload` as JSON text."""
    return json.dumps(redacted_payload(payload, escaped, event_id), ensure_ascii=False).encode("utf-8")


def _watermark(cur) -> datetime | None:
    """The newest load dbt has read into both guard tables (None before the first dbt build)."""
    cur.execute("select to_regclass('intermediate.int_stream_events__deduped') is not null "
                "and to_regclass('marts.stream_events') is not null")
    if not cur.fetchone()[0]:
        return None
    cur.execute("select least((select max(last_loaded_at) from intermediate.int_stream_events__deduped), "
                "(select max(source_loaded_at) from marts.stream_events))")
    return cur.fetchone()[0]


def redact_deleted(conn, settled_before: datetime) -> int:
    """Redact the settled raw rows that carry the Status of a deleted post; returns how many."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('marts.posts') is not null")
        if not cur.fetchone()[0]:
            return 0
        cur.execute(f"""
            select raw_rows.event_id, raw_rows.batch_key, raw_rows.received_at, raw_rows.instance_id,
                   raw_rows.instance_url, raw_rows.stream, raw_rows.source, raw_rows.event_type,
                   raw_rows.payload, raw_rows.payload_escaped
            from raw.stream_events as raw_rows
            join marts.posts as posts
              on posts.instance_id = raw_rows.instance_id and posts.post_id = raw_rows.payload_status_id
            where posts.deleted_at is not null
              and raw_rows.event_type in %(status_events)s
              and not (jsonb_typeof(raw_rows.payload) = 'object' and raw_rows.payload ? %(mark)s)
              and {_SETTLED}
        """, {"settled_before": settled_before, "status_events": tuple(sorted(STATUS_EVENTS)),
              "mark": REDACTED_KEY})
        rows = cur.fetchall()
        for (event_id, batch_key, received_at, instance_id, instance_url, stream, source, event_type, payload,
             escaped) in rows:
            new = normalise(RawEvent(instance_id, instance_url, stream, source, event_type, received_at,
                                     redacted_bytes(payload, escaped, event_id)))
            cur.execute("""
                update raw.stream_events
                set payload = %s::jsonb, payload_status_id = %s, payload_error = %s, payload_escaped = %s,
                    payload_raw_base64 = %s
                where event_id = %s and batch_key = %s and received_at = %s
            """, (new.payload_json, new.payload_status_id, new.payload_error, new.payload_escaped,
                  new.payload_raw_base64, event_id, batch_key, received_at))
            if new.event_id != event_id:  # cannot happen: normalise keeps the id under REDACTED_KEY
                raise UserError(f"Retention stopped: redacting event {event_id} would change its id.")
    conn.commit()
    return len(rows)


def archive_line(row: tuple) -> str:
    """One raw row as an archive line ``forkalytics load --from`` turns back into the same row."""
    (_event_id, _instance_id, instance_url, stream, source, event_type, received_at, payload, _status_id,
     _error, escaped, raw_base64, _batch_key, _load_id) = row
    record: dict[str, Any] = {"event": event_type, "instance": instance_url, "stream": stream, "source": source,
                              "received_at": received_at.astimezone(timezone.utc).isoformat()}
    if escaped and raw_base64 is not None:
        record["payload_base64"] = raw_base64
    elif isinstance(payload, str) and event_type in ID_EVENTS and payload.strip().isdigit():
        record["payload"] = payload  # a bare status id (delete, poll.missing), as the server sent it
    elif payload is not None:
        record["payload"] = json.dumps(payload, ensure_ascii=False)
    return json.dumps(record, ensure_ascii=False) + "\n"


def archive_and_delete(dsn: str, cutoff: datetime, settled_before: datetime, directory: Path,
                       report: RetentionReport) -> None:
    """Archive the settled rows received before ``cutoff``, then delete exactly those rows."""
    conn = psycopg2.connect(dsn, connect_timeout=10)
    path: Path | None = None
    try:
        conn.set_session(isolation_level="REPEATABLE READ")
        params = {"cutoff": cutoff, "settled_before": settled_before}
        where = f"raw_rows.received_at < %(cutoff)s and {_SETTLED}"
        with conn.cursor() as cur:
            cur.execute("select count(*) from raw.stream_events as raw_rows where raw_rows.received_at < %(cutoff)s "
                        f"and not ({_SETTLED})", params)
            report.not_incorporated = cur.fetchone()[0]
            cur.execute(f"select count(*), min(received_at), max(received_at) from raw.stream_events as raw_rows "
                        f"where {where}", params)
            count, first, last = cur.fetchone()
        if not count:
            conn.rollback()
            return
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = directory / f"stream_events_{first:%Y%m%d}-{last:%Y%m%d}_{stamp}.jsonl.gz"
        written = 0
        with open(path, "xb") as handle:
            with gzip.GzipFile(fileobj=handle, mode="wb") as archive, conn.cursor(name="retention_archive") as rows:
                rows.itersize = ARCHIVE_FETCH
                rows.execute(f"select {_COLUMNS} from raw.stream_events as raw_rows where {where} "
                             "order by received_at, event_id, batch_key", params)
                for row in rows:
                    archive.write(archive_line(row).encode("utf-8"))
                    written += 1
            handle.flush()
            os.fsync(handle.fileno())
        if written != count:
            raise UserError(f"Retention stopped: {written:,} rows archived but {count:,} selected; nothing was "
                            "deleted.")
        with conn.cursor() as cur:
            cur.execute(f"delete from raw.stream_events as raw_rows where {where}", params)
            deleted = cur.rowcount
        if deleted != written:
            raise UserError(f"Retention stopped: {deleted:,} rows matched for deletion but {written:,} were "
                            "archived; nothing was deleted.")
        conn.commit()
        report.archived, report.deleted, report.archive = written, deleted, path
        path = None  # kept
    except psycopg2.Error as exc:
        raise UserError(f"Retention stopped before deleting anything: {str(exc).strip().splitlines()[0]}") from exc
    finally:
        if conn.closed == 0:
            conn.rollback()
            conn.close()
        if path is not None:
            path.unlink(missing_ok=True)


def drop_empty_partitions(conn, cutoff: datetime) -> list[str]:
    """Drop the month partitions that end before ``cutoff`` and hold no rows (partitioned raw only)."""
    dropped = []
    with conn.cursor() as cur:
        if not is_partitioned(cur):
            return dropped
        cur.execute("""
            select child.relname
            from pg_inherits as link
            join pg_class as child on child.oid = link.inhrelid
            where link.inhparent = 'raw.stream_events'::regclass and child.relname ~ '^stream_events_[0-9]{4}_[0-9]{2}$'
            order by child.relname
        """)
        for (name,) in cur.fetchall():
            year, month = int(name[-7:-3]), int(name[-2:])
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
            if end > cutoff:
                continue
            table = sql.Identifier("raw", name)
            cur.execute(sql.SQL("select exists (select 1 from {})").format(table))
            if cur.fetchone()[0]:
                continue
            cur.execute(sql.SQL("alter table raw.stream_events detach partition {}").format(table))
            cur.execute(sql.SQL("drop table {}").format(table))
            dropped.append(name)
    conn.commit()
    return dropped


def run_retention(config: Config, warehouse: Warehouse, *, say: Callable[[str], None] = print,
                  now: datetime | None = None, raw_events_days: float | None = None,
                  settle_hours: float | None = None) -> RetentionReport:
    """Redact, archive and prune ``raw.stream_events`` per ``config.retention`` (see the module docstring).

    ``settle_hours`` (default dbt's ``incremental_lookback_hours``) is how long before the newest load dbt has
    read a row must have been loaded to count as incorporated; ``now`` and ``raw_events_days`` default to the
    clock and the configuration."""
    settings = config.retention
    now = now or datetime.now(timezone.utc)
    days = raw_events_days if raw_events_days is not None else settings.raw_events_days
    report = RetentionReport(cutoff=now - timedelta(days=days))
    dsn = warehouse.ensure_running()
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            watermark = _watermark(cur)
        conn.commit()
        if watermark is None:
            say("retention: dbt has not built the event log yet (run forkalytics run first); nothing to do")
            return report
        report.settled_before = watermark - timedelta(hours=lookback_hours() if settle_hours is None else settle_hours)
        if settings.redact_deleted:
            report.redacted = redact_deleted(conn, report.settled_before)
        archive_and_delete(dsn, report.cutoff, report.settled_before,
                           settings.archive_dir or config.state_dir / "archive", report)
        report.dropped_partitions = drop_empty_partitions(conn, report.cutoff)
    except psycopg2.OperationalError as exc:
        raise UserError(f"Retention could not reach the warehouse: {str(exc).strip().splitlines()[0]}") from exc
    finally:
        conn.close()
    say(f"retention: {report}")
    return report
