"""Event archives: JSON Lines files (optionally gzip-compressed), one event per line.

``{"event": "update", "payload": "<the SSE data text>", "instance": "https://host", "stream": "public",
"received_at": "2026-11-25T12:00:00Z"}`` (plus an optional ``"source"``: ``stream``, ``backfill``, ``poll``...;
``import`` when absent) — ``payload`` is the data exactly as the server sent it (a Status
as JSON text, or the bare id for ``delete``); an already-decoded JSON object is accepted too, and bytes that
are not UTF-8 travel as ``payload_base64``. ``forkalytics stream --record`` writes this format and
``forkalytics load --from`` reads it, so captured streams and exports replay through the same loader.

Loading is idempotent: a file's batches are keyed by the file's content hash and the batch number, so
loading the same archive twice adds nothing. A large archive is read and prepared (normalised, consent pass,
written as Arrow files) by a worker process (a fresh interpreter, talking over pipes) while the loader
``COPY``s the batch before, so reading and loading use different cores.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from extract.consent import PrivacyPolicy
from extract.events import SOURCES, RawEvent
from extract.raw_loader import LoadError, LoadReport, PreparedBatch, RawLoader, prepare_batch
from orchestration.config import instance_id_for, normalise_instance_url
from orchestration.errors import ConfigError, UserError


@dataclass
class ArchiveLine:
    number: int
    event: RawEvent
    offset: int = 0  # bytes of the (uncompressed) file read so far, for progress


def _open(path: Path) -> IO[bytes]:
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    handle.seek(0)
    return handle


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _parse_record(line: bytes) -> tuple[Any, bool]:
    """The JSON value of an archive line (None when it is not JSON), and whether orjson read it: orjson first,
    for speed; the standard library for what orjson refuses (lone surrogates, NaN)."""
    try:
        return orjson.loads(line), True
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(line), False
    except ValueError:
        return None, False


def _payload_bytes(value: Any, line: bytes, fast: bool) -> bytes:
    """A payload written as a JSON value, encoded again exactly as it was read."""
    if fast:
        encoded = orjson.dumps(value)
        if b"e+" not in encoded:
            return encoded
        value = json.loads(line)["payload"]  # orjson reads integers beyond 64 bits as floats: keep them exact
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def read_archive(path: Path, default_instance: str | None = None) -> Iterator[ArchiveLine]:
    """Events of an archive, in file order. A line that is not a valid record is still yielded, as an
    ``archive.invalid`` event holding the line, so the problem is visible in the warehouse."""
    default_url = normalise_instance_url(default_instance) if default_instance else None
    try:
        handle = _open(path)
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror}.") from None
    instances: dict[str, tuple[str, str]] = {}  # as written → (normalised URL, instance id)
    with handle:
        offset = 0
        for number, line in enumerate(handle, start=1):
            offset += len(line)
            if line.isspace():
                continue
            record, fast = _parse_record(line)  # (JSON allows the line's end as whitespace)
            if not isinstance(record, dict):
                if default_url is None:
                    raise UserError(f"{path} line {number} is not a JSON object and has no instance; "
                                    "pass --instance URL so it can be recorded.")
                yield ArchiveLine(number, RawEvent(instance_id_for(default_url), default_url, "archive", "import",
                                                   "archive.invalid", datetime.now(timezone.utc),
                                                   line.rstrip(b"\r\n")), offset)
                continue
            url = record.get("instance") or default_url
            if not isinstance(url, str):
                raise UserError(f"{path} line {number} names no instance; pass --instance URL.")
            known = instances.get(url)
            if known is None:
                try:
                    normalised = normalise_instance_url(url)
                except ConfigError as exc:
                    raise UserError(f"{path} line {number}: {exc}") from None
                known = instances[url] = (normalised, instance_id_for(normalised))
            url, instance_id = known
            payload: bytes | None
            value = record.get("payload")
            if "payload_base64" in record:
                try:
                    payload = base64.b64decode(record["payload_base64"], validate=True)
                except (ValueError, TypeError):
                    payload = str(record["payload_base64"]).encode("utf-8")
            elif isinstance(value, str):
                payload = value.encode("utf-8", "surrogatepass")
            elif value is not None:
                payload = _payload_bytes(value, line, fast)
            else:
                payload = None
            event_type = record.get("event")
            stream = record.get("stream")
            source = record.get("source")
            yield ArchiveLine(number, RawEvent(
                instance_id, url,
                stream if isinstance(stream, str) else "archive",
                # Archives of raw rows (forkalytics retention) keep each row's source, so a replay restores the
                # same rows (the event id depends on it); anything else counts as an import.
                source if isinstance(source, str) and source in SOURCES else "import",
                event_type if isinstance(event_type, str) else "archive.invalid",
                _parse_time(record.get("received_at")) or datetime.now(timezone.utc),
                payload), offset)


class ArchiveWriter:
    """Appends received events to a JSON Lines archive (``--record``); thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        opener = gzip.open if self.path.suffix == ".gz" else open
        self._handle: IO[str] = opener(self.path, "at", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self.written = 0

    def write(self, event: RawEvent) -> None:
        record: dict[str, Any] = {"event": event.event_type, "instance": event.instance_url,
                                  "stream": event.stream, "received_at": event.received_at.isoformat()}
        if event.payload is not None:
            try:
                record["payload"] = event.payload.decode("utf-8")
            except UnicodeDecodeError:
                record["payload_base64"] = base64.b64encode(event.payload).decode("ascii")
        with self._lock:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()
            self.written += 1

    def close(self) -> None:
        with self._lock:
            self._handle.close()


# Events per batch of an archive load: one dlt run (and one COPY transaction) each; large enough that dlt's
# fixed cost per run is small next to the COPY, small enough that a batch's rows stay well under 1 GB.
ARCHIVE_BATCH_EVENTS = 25_000
# Below this size an archive is prepared in-process: starting the worker would cost more than it saves.
PARALLEL_MIN_BYTES = 32 << 20


# The first batches are smaller (5,000, 10,000, 20,000 events, then the batch size), so the loader starts
# COPYing soon instead of waiting for a whole large batch to be prepared. The sizes depend only on the batch
# size, so the same file always gives the same batches (and batch keys).
_FIRST_BATCH_EVENTS = 5_000


def _batches(path: Path, default_instance: str | None, batch_size: int) -> Iterator[tuple[list[RawEvent], int]]:
    batch: list[RawEvent] = []
    offset = 0
    size = min(batch_size, _FIRST_BATCH_EVENTS)
    for line in read_archive(path, default_instance):
        batch.append(line.event)
        offset = line.offset
        if len(batch) >= size:
            yield batch, offset
            batch = []
            size = min(batch_size, size * 2)
    if batch:
        yield batch, offset


def _prepared(path: Path, default_instance: str | None, batch_size: int, digest: str | None,
              privacy: PrivacyPolicy, directory: Path) -> Iterator[tuple[PreparedBatch, int]]:
    digest = digest or file_digest(path)  # in the worker, hashing the file overlaps the loader's start-up
    for number, (events, offset) in enumerate(_batches(path, default_instance, batch_size)):
        yield prepare_batch(f"import:{digest}:{number:06d}", events, privacy, directory), offset


# Prepared batches the worker may be ahead of the loader (each is an Arrow file on disk until it is loaded).
_AHEAD = 2
_FRAME = struct.Struct(">Q")


def _write_frame(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> Any:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    size = _FRAME.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - frames come from our own worker process, over its stdout pipe


def worker_main() -> None:
    """The worker process (``python -c "from extract.archive import worker_main; worker_main()"``): reads its
    arguments from standard input, prepares every batch in order and writes each as a frame on standard
    output, at most ``_AHEAD`` batches ahead of the loader (which sends one byte per batch it has taken)."""
    inbound, outbound = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frames
    arguments = _read_frame(inbound)
    ahead = 0
    try:
        for item in _prepared(*arguments):
            if ahead >= _AHEAD:
                if not inbound.read(1):
                    return  # the loader has gone
                ahead -= 1
            _write_frame(outbound, ("batch", item))
            ahead += 1
        _write_frame(outbound, ("done", None))
    except UserError as exc:
        _write_frame(outbound, ("user_error", (str(exc), exc.exit_code)))
    except BrokenPipeError:
        return
    except BaseException:  # noqa: BLE001 - reported to the loading process, which raises it
        _write_frame(outbound, ("crash", traceback.format_exc()))


def _start_worker(arguments: tuple) -> subprocess.Popen:
    """A worker process preparing the batches: a fresh interpreter (never a fork of this process, which may
    hold threads and connections, and independent of how this program's main module was written)."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    worker = subprocess.Popen([sys.executable, "-c", "from extract.archive import worker_main; worker_main()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert worker.stdin is not None
    with contextlib.suppress(OSError):  # a worker that has already gone says so when its frames are read
        _write_frame(worker.stdin, arguments)
    return worker


def _prepared_in_worker(worker: subprocess.Popen) -> Iterator[tuple[PreparedBatch, int]]:
    """The batches the worker prepares, in order; the worker is stopped when the loop ends, however it ends."""
    assert worker.stdin is not None and worker.stdout is not None
    try:
        while True:
            try:
                kind, value = _read_frame(worker.stdout)
            except EOFError:
                raise LoadError(f"the process reading the archive stopped (exit code {worker.wait()}); "
                                "batches loaded so far stay loaded, and loading again resumes") from None
            if kind == "done":
                return
            if kind == "user_error":
                raise UserError(*value)
            if kind != "batch":
                raise LoadError(f"reading the archive failed:\n{value}")
            yield value
            with contextlib.suppress(BrokenPipeError):  # a worker that has finished reads no more
                worker.stdin.write(b".")  # one batch taken: the worker may prepare one more
                worker.stdin.flush()
    finally:
        for stream in (worker.stdin, worker.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        if worker.poll() is None:
            worker.terminate()
        worker.wait(timeout=30)


def load_archive(path: Path, loader: RawLoader, *, default_instance: str | None = None,
                 batch_size: int = ARCHIVE_BATCH_EVENTS, on_batch: Callable[[int, float | None], None] | None = None,
                 parallel: bool | None = None) -> LoadReport:
    """Load an archive into ``raw`` in batches keyed by file content and batch number (idempotent).

    ``parallel`` prepares the batches in a worker process while the previous one loads (default: for
    archives of at least ``PARALLEL_MIN_BYTES``)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    if parallel is None:
        parallel = size >= PARALLEL_MIN_BYTES
    # the worker hashes the file itself (for the batch keys) while dlt starts here
    digest = None if parallel else file_digest(path)
    directory = loader.imports_dir / f"archive-{os.getpid()}-{uuid.uuid4().hex}"
    arguments = (path, default_instance, batch_size, digest, loader.privacy, directory)
    report = LoadReport()
    try:
        if parallel:
            worker = _start_worker(arguments)
            try:
                loader.warm_up()  # dlt's start-up runs while the worker prepares the first batch
            except BaseException:
                worker.kill()
                worker.wait()
                raise
            batches = _prepared_in_worker(worker)
        else:
            batches = _prepared(*arguments)
        offsets: dict[str, int] = {}

        def prepared_batches() -> Iterator[PreparedBatch]:
            for prepared, offset in batches:
                offsets[prepared.batch_key] = offset
                yield prepared

        def settled(prepared: PreparedBatch) -> None:
            offset = offsets.pop(prepared.batch_key)
            if on_batch is not None:
                on_batch(prepared.rows, None if compressed or not size else offset / size)

        with contextlib.closing(batches):
            report.add(loader.load_all_prepared(prepared_batches(), settled))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return report
