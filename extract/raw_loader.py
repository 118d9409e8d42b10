"""Loads batches of events into ``raw`` with dlt (a CSV file per batch, imported into dlt's load package and
loaded with ``COPY``).

A batch is loaded in two halves. :func:`prepare_batch` needs no database: it normalises the events, runs the
consent pass and writes the rows as an Arrow file. :meth:`RawLoader.load_prepared` runs the dlt pipeline on
it: the resource turns the Arrow file into a CSV file stamped with dlt's load id and hands that file to dlt
as is (``dlt.mark.with_file_import``), so dlt's normaliser has nothing to convert and its loader ``COPY``s
the file. The halves can run in different processes (``extract.archive.load_archive`` prepares the next
batch while this one loads).

Exactly once in effect: every batch has a key (its spool segment, or archive and chunk) stored on each of
its rows; a batch whose key is already in ``raw.stream_events`` is skipped. dlt commits one batch's rows in
one transaction, so a batch is either wholly there or not at all; a crash between the commit and removing
the segment only means the segment is skipped next time. Packages a crashed run left half-way are dropped
and rebuilt from the segment, which is still on disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from extract.consent import STRICT, BatchConsent, ConsentPass, PrivacyPolicy, after_load
from extract.events import RawEvent, RawRow, normalise_parsed
from extract.raw_schema import STREAM_EVENT_COLUMNS, ensure_month_partitions, is_partitioned
from extract.spool import SpoolBusy, exclusive_lock, read_segment, ready_segments

log = logging.getLogger(__name__)

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
# Arrow tables (raw.instances) skip dlt's row-by-row normaliser; ask it to stamp the load id on them anyway.
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
# The load files are written once and read once on this machine: gzip would only cost CPU (a quarter of a load).
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
# dlt keeps every loaded package's files (here, every event loaded) under state_dir/dlt unless told to delete
# them: a long-running streamer's state directory would grow without bound. The rows are in raw once loaded.
os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")

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

    columns = list(zip(*((row.event_id, row.instance_id, row.instance_url, row.stream, row.source, row.event_type,
                          row.received_at, row.payload_json, row.payload_status_id, row.payload_error,
                          row.payload_escaped, row.payload_raw_base64) for row in rows), strict=True))
    return pa.table({
        "event_id": pa.array(columns[0], pa.string()),
        "instance_id": pa.array(columns[1], pa.string()),
        "instance_url": pa.array(columns[2], pa.string()),
        "stream": pa.array(columns[3], pa.string()),
        "source": pa.array(columns[4], pa.string()),
        "event_type": pa.array(columns[5], pa.string()),
        "received_at": pa.array(columns[6], pa.timestamp("us", tz="UTC")),
        "payload": pa.array(columns[7], pa.string()),
        "payload_status_id": pa.array(columns[8], pa.string()),
        "payload_error": pa.array(columns[9], pa.string()),
        "payload_escaped": pa.array(columns[10], pa.bool_()),
        "payload_raw_base64": pa.array(columns[11], pa.string()),
        "batch_key": pa.array([batch_key] * len(rows), pa.string()),
    })


_DLT_TYPES = {"varchar": "text", "jsonb": "json", "boolean": "bool", "timestamp with time zone": "timestamp"}


def _dlt_column(name: str, ddl: str) -> dict:
    """dlt's hint for a column of the raw contract (``extract.raw_schema``): its type, and whether it may be
    null (dlt's COPY reads an empty field as NULL only in nullable columns, so not-null ones must say so)."""
    kind = ddl.removesuffix(" not null")
    column = {"name": name, "data_type": _DLT_TYPES[kind], "nullable": not ddl.endswith(" not null")}
    if kind == "timestamp with time zone":
        column["timezone"] = True
    return column


# The whole of raw.stream_events as dlt sees it (an imported file brings no schema of its own).
_EVENT_COLUMNS = {name: _dlt_column(name, ddl) for name, ddl in STREAM_EVENT_COLUMNS.items()}


@dataclass
class PreparedBatch:
    """A batch ready to load: its rows in an Arrow file, and what the load needs to know of them."""

    batch_key: str
    path: Path | None  # None when the batch has no rows
    rows: int
    months: set[date]
    consent: BatchConsent
    rows_with_errors: int = 0
    per_instance: dict[str, int] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def prepare_batch(batch_key: str, events: Iterable[RawEvent], privacy: PrivacyPolicy,
                  directory: Path) -> PreparedBatch:
    """Normalise a batch and run the consent pass on it; write its rows as an Arrow file in ``directory``."""
    import pyarrow as pa

    consent_pass = ConsentPass(privacy)
    for event in events:
        consent_pass.add(*normalise_parsed(event))
    rows, consent = consent_pass.finish()
    prepared = PreparedBatch(batch_key, None, len(rows), {row.received_at.date().replace(day=1) for row in rows},
                             consent)
    if not rows:
        return prepared
    prepared.rows_with_errors = sum(1 for row in rows if row.payload_error)
    for row in rows:
        prepared.per_instance[row.instance_id] = prepared.per_instance.get(row.instance_id, 0) + 1
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{hashlib.sha256(batch_key.encode()).hexdigest()[:24]}.arrow"
    table = _arrow_table(rows, batch_key)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    prepared.path = path
    return prepared


def _csv_for_load(arrow_path: Path, load_id: str) -> Path:
    """The batch's rows as the CSV file dlt imports, each stamped with ``load_id``."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    with pa.memory_map(str(arrow_path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    table = table.append_column("_dlt_load_id", pa.array([load_id] * table.num_rows, pa.string()))
    csv_path = arrow_path.with_suffix(".csv")
    pa_csv.write_csv(table, str(csv_path), pa_csv.WriteOptions(include_header=True, quoting_style="needed"))
    return csv_path


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

    def warm_up(self) -> None:
        """Import dlt and open the pipeline now (a second or two), e.g. while the first batch is prepared."""
        self._get_pipeline()

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

    @staticmethod
    def _confirm(cur, batch_key: str, expected: int) -> None:
        """Raise unless ``raw.stream_events`` holds exactly ``expected`` rows of the batch."""
        cur.execute("select count(*) from raw.stream_events where batch_key = %s", (batch_key,))
        found = cur.fetchone()[0]
        if found != expected:
            raise LoadError(f"batch {batch_key} was not stored completely ({found} of {expected} rows); "
                            f"it stays buffered and is loaded again on the next attempt.")

    def _prepare(self, batch_key: str, months: set[date]) -> bool:
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
                    ensure_month_partitions(cur, months)
                return True
        finally:
            conn.close()

    @property
    def imports_dir(self) -> Path:
        """Where prepared batches wait for their load (on the state directory's file system, so dlt can hard-link
        the CSV file into its load package)."""
        return self.state_dir / "imports"

    def load_batch(self, batch_key: str, events: Iterable[RawEvent]) -> LoadReport:
        """Load one batch (idempotent by ``batch_key``)."""
        return self.load_prepared(prepare_batch(batch_key, events, self.privacy, self.imports_dir))

    def load_prepared(self, prepared: PreparedBatch) -> LoadReport:
        """Load a batch :func:`prepare_batch` made (idempotent by its key); its files are removed either way."""
        try:
            stored = self._store(prepared)
        except BaseException:
            prepared.discard()
            raise
        return self._settle(prepared, stored)

    def load_all_prepared(self, batches: Iterable[PreparedBatch],
                          on_batch: Callable[[PreparedBatch], None] | None = None) -> LoadReport:
        """Load batches in order, as :meth:`load_prepared` does one; a batch's settling (confirming its rows,
        recording consent, redacting earlier rows) runs in a background thread while the next batch's rows
        are stored, so the ``COPY``s follow each other closely. ``on_batch`` is called once a batch is settled.

        Each batch still commits before the next one starts, so load ids stay in commit order; a crash
        between a batch's commit and its settling is mended by loading again (an already-loaded batch is
        skipped, and settled again: settling is idempotent)."""
        report = LoadReport()
        # (leaving the block, however it is left, waits for the batch being settled)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="forkalytics-settle") as settler:
            settling: tuple[PreparedBatch, Future[LoadReport]] | None = None

            def settled() -> None:
                if settling is not None:
                    report.add(settling[1].result())
                    if on_batch is not None:
                        on_batch(settling[0])

            for prepared in batches:
                try:
                    stored = self._store(prepared)
                except BaseException:
                    prepared.discard()
                    raise
                settled()
                settling = (prepared, settler.submit(self._settle, prepared, stored))
            settled()
        return report

    def _store(self, prepared: PreparedBatch) -> bool:
        """Store the batch's rows (one dlt run, one transaction); False when it has no rows or is already stored."""
        import dlt

        if not prepared.rows or not self._prepare(prepared.batch_key, prepared.months):
            return False
        imported: list[Path] = []

        def batch_file():
            load_id = dlt.current.load_package_state()["load_id"]
            imported.append(_csv_for_load(prepared.path, load_id))
            yield dlt.mark.with_file_import(str(imported[-1]), "csv", prepared.rows,
                                            hints=dlt.mark.make_hints(columns=_EVENT_COLUMNS))

        resource = dlt.resource(batch_file, name="stream_events", write_disposition="append",
                                columns=_EVENT_COLUMNS)
        try:
            self._run(resource)
        finally:
            for path in imported:
                path.unlink(missing_ok=True)
        return True

    def _settle(self, prepared: PreparedBatch, stored: bool) -> LoadReport:
        """After :meth:`_store`: confirm the rows, record the authors' consent, redact earlier payloads of
        accounts that just opted out and of statuses the batch deletes (idempotent, so also run for a batch
        found already loaded); remove the batch's files."""
        report = LoadReport()
        try:
            if not prepared.rows:
                return report
            consent = prepared.consent
            if stored or consent.accounts or consent.deleted:
                conn = psycopg2.connect(self.dsn, connect_timeout=10)
                try:
                    if stored:
                        with conn, conn.cursor() as cur:
                            self._confirm(cur, prepared.batch_key, prepared.rows)
                    if consent.accounts or consent.deleted:
                        with conn, conn.cursor() as cur:
                            report.privacy_redacted = after_load(cur, consent, self.privacy)
                finally:
                    conn.close()
            if not stored:
                report.skipped_batches = 1
                return report
            report.privacy_redacted += consent.redacted_rows
            report.batches = 1
            report.rows = prepared.rows
            report.rows_with_errors = prepared.rows_with_errors
            report.per_instance = dict(prepared.per_instance)
            return report
        finally:
            prepared.discard()

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
