"""When each stream last received data, persisted so a restarted streamer can back-fill what it missed.

A stream's checkpoint moves only after the event was written to the durable buffer (or on a heartbeat,
which proves nothing was missed until then). It is saved at most once a second, so after a crash it can
only be older than the truth: the catch-up back-fill then fetches a little more, never less.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path


class CheckpointStore:
    def __init__(self, path: Path, save_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.save_interval = save_interval
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, str]] = self._read()
        self._saved_at = 0.0
        self._dirty = False
        self._holds: dict[tuple[str, str], dict[int, str]] = {}
        self._next_hold = 0

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def last_data_at(self, instance_id: str, stream: str) -> datetime | None:
        with self._lock:
            value = self._data.get(instance_id, {}).get(stream)
        try:
            return datetime.fromisoformat(value) if value else None
        except ValueError:
            return None

    def hold(self, instance_id: str, stream: str, since: datetime) -> int:
        """Keep the saved checkpoint at or before ``since`` until :meth:`release` (a gap being back-filled:
        if the process dies first, the next start must fetch the gap again)."""
        with self._lock:
            self._next_hold += 1
            self._holds.setdefault((instance_id, stream), {})[self._next_hold] = since.isoformat()
            self._dirty = True
            return self._next_hold

    def release(self, instance_id: str, stream: str, hold_id: int) -> None:
        with self._lock:
            self._holds.get((instance_id, stream), {}).pop(hold_id, None)
            self._dirty = True

    def note(self, instance_id: str, stream: str, moment: datetime) -> None:
        with self._lock:
            self._data.setdefault(instance_id, {})[stream] = moment.isoformat()
            self._dirty = True
            due = time.monotonic() - self._saved_at >= self.save_interval
        if due:
            self.save()

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            effective = {instance: dict(streams) for instance, streams in self._data.items()}
            for (instance, stream), holds in self._holds.items():
                if holds:
                    oldest = min(holds.values(), key=datetime.fromisoformat)
                    current = effective.setdefault(instance, {}).get(stream)
                    if current is None or datetime.fromisoformat(oldest) < datetime.fromisoformat(current):
                        effective[instance][stream] = oldest
            text = json.dumps(effective, indent=1, sort_keys=True)
            self._dirty = False
            self._saved_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            with self._lock:
                self._dirty = True
