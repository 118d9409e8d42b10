"""The durable buffer between receiving an event and loading it into ``raw``.

Every event is appended to a segment file (one JSON line each, one ``write`` call per line) *before* it is
acknowledged anywhere else, so a crash of the process (kill -9) loses nothing that was received: the
kernel holds the bytes, and a background flush ``fsync``s them at a short interval for power loss.

Segments are written as ``*.open`` and sealed to ``*.ready`` when they reach the batch size or age; the
loader takes sealed segments in name (time) order and removes each one only after its rows are committed
in PostgreSQL. On start-up a writer seals segments left open by a process that died. One writer per spool
directory is enforced with a lock file, and so is one loader.

A write error (disk full, permission denied) is raised, never swallowed: the stream must stop rather than
receive events it cannot keep.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from extract.events import RawEvent

OPEN_SUFFIX = ".open"
READY_SUFFIX = ".ready"


class SpoolError(OSError):
    """The buffer directory cannot be written; carries a one-sentence explanation."""


class SpoolBusy(RuntimeError):
    """Another process holds the writer (or loader) lock of this spool directory."""


@dataclass
class SegmentContents:
    events: list[RawEvent]
    damaged_lines: int


def _explain(exc: OSError, directory: Path) -> SpoolError:
    reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
              errno.EACCES: "permission denied", errno.EPERM: "permission denied",
              errno.EROFS: "the file system is read-only"}.get(exc.errno or 0, exc.strerror or str(exc))
    return SpoolError(exc.errno or 0, f"Cannot write to the event buffer in {directory} ({reason}); the stream "
                      "stops so that no received event is dropped")


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, wait: bool) -> Iterator[None]:
    """Hold an advisory lock file for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the block's lifetime
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise SpoolBusy(f"Another Forkalytics process is already the {what} of {path.parent}.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class SpoolWriter:
    """Appends events to the current segment; thread-safe."""

    def __init__(self, directory: Path, max_events: int = 5000, max_seconds: float = 5.0,
                 fsync_interval: float = 0.5) -> None:
        self.directory = Path(directory)
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.fsync_interval = fsync_interval
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._count = 0
        self._opened_at = 0.0
        self._seq = 0
        self._dirty = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._lock_cm: contextlib.AbstractContextManager | None = None
        self.appended = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> SpoolWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_cm = exclusive_lock(self.directory / ".writer.lock", "event buffer writer", wait=False)
            self._lock_cm.__enter__()
        except OSError as exc:
            raise _explain(exc, self.directory) from exc
        seal_orphans(self.directory)
        self._flusher = threading.Thread(target=self._flush_loop, name="spool-flush", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        with self._lock:
            self._seal_locked()
        if self._lock_cm is not None:
            self._lock_cm.__exit__(None, None, None)
            self._lock_cm = None

    # -- writing ----------------------------------------------------------------------------------
    def append(self, event: RawEvent) -> None:
        line = (json.dumps(event.to_spool(), ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
        with self._lock:
            try:
                if self._fd is None:
                    self._open_segment_locked()
                assert self._fd is not None
                written = os.write(self._fd, line)
                while written < len(line):  # a short write: finish the line before anything else
                    written += os.write(self._fd, line[written:])
            except OSError as exc:
                raise _explain(exc, self.directory) from exc
            self._count += 1
            self._dirty = True
            self.appended += 1
            if self._count >= self.max_events:
                self._seal_locked()

    def rotate_if_due(self) -> None:
        """Seal the current segment when it is older than ``max_seconds`` (called by the flusher)."""
        with self._lock:
            if self._fd is not None and time.monotonic() - self._opened_at >= self.max_seconds:
                self._seal_locked()

    def seal(self) -> None:
        with self._lock:
            self._seal_locked()

    def _open_segment_locked(self) -> None:
        self._seq += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        self._path = self.directory / f"{stamp}-{os.getpid()}-{self._seq:06d}{OPEN_SUFFIX}"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        self._count = 0
        self._opened_at = time.monotonic()

    def _seal_locked(self) -> None:
        if self._fd is None or self._path is None:
            return
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            os.replace(self._path, self._path.with_suffix(READY_SUFFIX))
            _fsync_dir(self.directory)
        except OSError as exc:
            raise _explain(exc, self.directory) from exc
        finally:
            self._fd = None
            self._path = None
            self._dirty = False

    def _flush_loop(self) -> None:
        interval = max(0.05, min(self.fsync_interval or 0.5, self.max_seconds))
        while not self._stop.wait(interval):
            with self._lock:
                if self._fd is not None and self._dirty:
                    with contextlib.suppress(OSError):
                        os.fsync(self._fd)
                    self._dirty = False
            with contextlib.suppress(OSError):
                self.rotate_if_due()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def seal_orphans(directory: Path) -> list[Path]:
    """Seal segments left ``*.open`` by a process that died (the caller holds the writer lock)."""
    sealed = []
    for path in sorted(Path(directory).glob(f"*{OPEN_SUFFIX}")):
        target = path.with_suffix(READY_SUFFIX)
        os.replace(path, target)
        sealed.append(target)
    return sealed


def ready_segments(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob(f"*{READY_SUFFIX}"))


def read_segment(path: Path) -> SegmentContents:
    """The events of a sealed segment. A line cut short by a crash mid-write is counted, not fatal."""
    events: list[RawEvent] = []
    damaged = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                damaged += 1
                continue
            try:
                events.append(RawEvent.from_spool(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                damaged += 1
    return SegmentContents(events=events, damaged_lines=damaged)
