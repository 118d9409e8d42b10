"""Loads batches of events into ``raw`` with dlt (Arrow tables, COPY through the csv loader).

Exactly once in effect: every batch has a key (its spool segment, or archive and chunk) stored on each of
its rows; a batch whose key is already in ``raw.stream_events`` is skipped. dlt commits one batch's rows in
one transaction, so a batch is either wholly there or not at all; a crash between the commit and removing
the segment only means the segment is skipped next time. Packages a crashed run left half-way are dropped
and rebuilt from the segment, which is still on disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from extract.consent import STRICT, PrivacyPolicy, after_load, apply_consent
from extract.events import RawEvent, RawRow, normalise
from extract.raw_schema import ensure_month_partitions, is_partitioned
from extract.spool import SpoolBusy, exclusive_lock, read_segment, ready_segments

log = logging.getLogger(__name__)

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
# Arrow tables skip dlt's row-by-row normaliser; ask it to stamp the load id on them anyway.
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
# The load files are written once and read once on this machine: gzip would only cost CPU (a quarter of a load).
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")

PIPELINE_NAME = "forkalytics_raw"


class _QuietArrowHints(logging.Filter):
    """dlt warns that Arrow's string type differs from the ``json`` hint; the hint is what we want."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


logging.getLogger("dlt").addFilter(_QuietArrowHints())


@dataclass
class LoadReport:
    """What a load did, for the one-line report and for tests."""

    batches: int = 0
    rows: int = 0
    skipped_batches: int = 0
    damaged_lines: int = 0
    rows_with_errors: int = 0
    privacy_redacted: int = 0  # payloads stored without their text (opted-out accounts, non-public, deleted)
    per_instance: dict[str, int] = field(default_factory=dict)

    def add(self, other: LoadReport) -> None:
        self.batches += other.batches
        self.rows += other.rows
        self.skipped_batches += other.skipped_batches
        self.damaged_lines += other.damaged_lines
        self.rows_with_errors += other.rows_with_errors
        self.privacy_redacted += other.privacy_redacted
        for key, value in other.per_instance.items():
            self.per_instance[key] = self.per_instance.get(key, 0) + value


def _dlt_credentials(dsn: str) -> str:
    """dlt insists on a password; a server with trust authentication ignores whatever is given."""
    parts = urlsplit(dsn)
    if parts.password is None and parts.username:
        host = parts.netloc.split("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:trust@{host}")
    return urlunsplit(parts)


def _arrow_table(rows: Sequence[RawRow], batch_key: str):  # -> pyarrow.Table
    import pyarrow as pa

    def column(name: str) -> list:
        return [getattr(row, name) for row in rows]

    return pa.table({
        "event_id": pa.array(column("event_id"), pa.string()),
        "instance_id": pa.array(column("instance_id"), pa.string()),
        "instance_url": pa.array(column("instance_url"), pa.string()),
        "stream": pa.array(column("stream"), pa.string()),
        "source": pa.array(column("source"), pa.string()),
        "event_type": pa.array(column("event_type"), pa.string()),
        "received_at": pa.array(column("received_at"), pa.timestamp("us", tz="UTC")),
        "payload": pa.array(column("payload_json"), pa.string()),
        "payload_status_id": pa.array(column("payload_status_id"), pa.string()),
        "payload_error": pa.array(column("payload_error"), pa.string()),
        "payload_escaped": pa.array(column("payload_escaped"), pa.bool_()),
        "payload_raw_base64": pa.array(column("payload_raw_base64"), pa.string()),
        "batch_key": pa.array([batch_key] * len(rows), pa.string()),
    })


_COLUMN_HINTS = {
    "payload": {"data_type": "json"},
    "received_at": {"data_type": "timestamp", "timezone": True},
}


class LoadError(RuntimeError):
    """A batch could not be confirmed in the warehouse; its events stay buffered."""


class RawLoader:
    """Appends event batches to ``raw.stream_events`` and instance observations to ``raw.instances``."""

    def __init__(self, dsn: str, state_dir: Path, privacy: PrivacyPolicy | None = None) -> None:
        self.dsn = dsn
        self.state_dir = Path(state_dir)
        self.privacy = privacy or STRICT  # the ``privacy:`` configuration; strict when not given
        self._pipeline = None
        self._partitioned: bool | None = None

    def _get_pipeline(self):
        if self._pipeline is None:
            import dlt

            self._pipeline = dlt.pipeline(
                pipeline_name=PIPELINE_NAME,
                pipelines_dir=str(self.state_dir / "dlt"),
                destination=dlt.destinations.postgres(credentials=_dlt_credentials(self.dsn)),
                dataset_name="raw",
                progress="log" if log.isEnabledFor(logging.DEBUG) else None,
            )
        return self._pipeline

    def _run(self, resource) -> None:
        """Run the pipeline on ``resource`` alone.

        A package that a failed or killed run left pending is dropped first: dlt's ``run`` would load that old
        package and ignore ``resource``. Dropping it loses nothing, because a batch's rows stay in the buffer
        (or archive) until they are confirmed in the table, and a batch already committed is skipped by its key.
        """
        pipeline = self._get_pipeline()
        if pipeline.has_pending_data:
            pipeline.abort_packages()
        try:
            pipeline.run(resource, loader_file_format="csv")
        except Exception:
            if pipeline.has_pending_data:
                pipeline.abort_packages()
            raise

    def _confirm(self, batch_key: str, expected: int) -> None:
        """Raise unless ``raw.stream_events`` holds exactly ``expected`` rows of the batch."""
        conn = psycopg2.connect(self.dsn, connect_timeout=10)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("select count(*) from raw.stream_events where batch_key = %s", (batch_key,))
                found = cur.fetchone()[0]
        finally:
            conn.close()
        if found != expected:
            raise LoadError(f"batch {batch_key} was not stored completely ({found} of {expected} rows); "
                            f"it stays buffered and is loaded again on the next attempt.")

    def _prepare(self, batch_key: str, rows: Sequence[RawRow]) -> bool:
        """False when the batch is already loaded; else make sure its month partitions exist (if partitioned)."""
        conn = psycopg2.connect(self.dsn, connect_timeout=10)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("select exists (select 1 from raw.stream_events where batch_key = %s)", (batch_key,))
                if cur.fetchone()[0]:
                    return False
                if self._partitioned is None:
                    self._partitioned = is_partitioned(cur)
                if self._partitioned:
                    ensure_month_partitions(cur, {row.received_at.date().replace(day=1) for row in rows})
                return True
        finally:
            conn.close()

    def _after_load(self, consent) -> int:
        """Record the batch's authors' consent; redact earlier payloads of accounts that just opted out and
        of statuses the batch deletes (idempotent, so also run for a batch found already loaded)."""
        if not consent.accounts and not consent.deleted:
            return 0
        conn = psycopg2.connect(self.dsn, connect_timeout=10)
        try:
            with conn, conn.cursor() as cur:
                return after_load(cur, consent, self.privacy)
        finally:
            conn.close()

    def load_batch(self, batch_key: str, events: Iterable[RawEvent]) -> LoadReport:
        """Load one batch (idempotent by ``batch_key``)."""
        import dlt

        report = LoadReport()
        rows, consent = apply_consent([normalise(event) for event in events], self.privacy)
        if not rows:
            return report
        if not self._prepare(batch_key, rows):
            report.skipped_batches = 1
            report.privacy_redacted = self._after_load(consent)
            return report
        table = _arrow_table(rows, batch_key)
        resource = dlt.resource([table], name="stream_events", write_disposition="append", columns=_COLUMN_HINTS)
        self._run(resource)
        self._confirm(batch_key, len(rows))
        report.privacy_redacted = consent.redacted_rows + self._after_load(consent)
        report.batches = 1
        report.rows = len(rows)
        report.rows_with_errors = sum(1 for row in rows if row.payload_error)
        for row in rows:
            report.per_instance[row.instance_id] = report.per_instance.get(row.instance_id, 0) + 1
        return report

    def load_instances(self, observations: Sequence[dict]) -> None:
        """Append instance observations (see ``extract.instance_info``)."""
        import dlt
        import pyarrow as pa

        if not observations:
            return
        table = pa.table({
            "instance_id": pa.array([o["instance_id"] for o in observations], pa.string()),
            "instance_url": pa.array([o["instance_url"] for o in observations], pa.string()),
            "api_version": pa.array([o["api_version"] for o in observations], pa.string()),
            "software_version": pa.array([o.get("software_version") for o in observations], pa.string()),
            "title": pa.array([o.get("title") for o in observations], pa.string()),
            "streaming_url": pa.array([o.get("streaming_url") for o in observations], pa.string()),
            "streams": pa.array([o["streams_json"] for o in observations], pa.string()),
            "timelines_access": pa.array([o.get("timelines_access_json") for o in observations], pa.string()),
            "payload": pa.array([o.get("payload_json") for o in observations], pa.string()),
            "observed_at": pa.array([o["observed_at"] for o in observations], pa.timestamp("us", tz="UTC")),
        })
        hints = {name: {"data_type": "json"} for name in ("streams", "timelines_access", "payload")}
        hints["observed_at"] = {"data_type": "timestamp", "timezone": True}
        resource = dlt.resource([table], name="instances", write_disposition="append", columns=hints)
        self._run(resource)

    def drain_spool(self, directory: Path, *, wait_for_lock: bool = True) -> LoadReport:
        """Load every sealed segment of a spool directory, oldest first, removing each once committed."""
        report = LoadReport()
        try:
            with exclusive_lock(Path(directory) / ".loader.lock", "event buffer loader", wait=wait_for_lock):
                for segment in ready_segments(directory):
                    contents = read_segment(segment)
                    if contents.damaged_lines:
                        log.warning("%s: %d line(s) cut short by a crash were skipped", segment.name,
                                    contents.damaged_lines)
                    part = self.load_batch(f"spool:{segment.stem}", contents.events)
                    part.damaged_lines = contents.damaged_lines
                    report.add(part)
                    segment.unlink()
        except SpoolBusy:
            if wait_for_lock:
                raise
        return report


def captured_versions(dsn: str, instance_id: str, since: datetime) -> list[tuple[str | None, str | None, str | None]]:
    """``(status id, uri, edited_at or created_at)`` of the statuses loaded since ``since``, so a restarted
    streamer's catch-up back-fill does not store again what the previous run captured."""
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                select payload_status_id, payload->>'uri', coalesce(payload->>'edited_at', payload->>'created_at')
                from raw.stream_events
                where instance_id = %s and received_at >= %s and event_type in ('update', 'status.update')
                  and payload_error is null
                """,
                (instance_id, since),
            )
            return cur.fetchall()
    finally:
        conn.close()
