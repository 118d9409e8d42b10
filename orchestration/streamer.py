"""``forkalytics stream``: every configured stream of every instance at once, into ``raw``.

Received events go to the durable buffer first (see ``extract.spool``); a loader thread moves sealed
segments into PostgreSQL every few seconds. When the warehouse is unreachable the segments simply wait on
disk and are loaded when it comes back; a buffer that cannot be written stops the stream with a clear error.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from extract.archive import ArchiveWriter
from extract.backfill import Backfiller, SeenStatuses
from extract.checkpoints import CheckpointStore
from extract.events import RawEvent
from extract.instance_info import InstanceInfo, discover
from extract.mastodon_stream import StreamWorker
from extract.raw_loader import LoadReport, RawLoader, captured_versions
from extract.spool import SpoolWriter, ready_segments
from orchestration.config import Config, InstanceConfig
from orchestration.errors import ConfigError, UserError
from orchestration.warehouse import Warehouse

log = logging.getLogger(__name__)


def spool_dir(config: Config) -> Path:
    return config.state_dir / "spool"


@dataclass
class StreamRunReport:
    events: dict[str, int] = field(default_factory=dict)
    backfilled: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    loaded: LoadReport = field(default_factory=LoadReport)
    failures: list[str] = field(default_factory=list)
    buffered_segments: int = 0
    # streams that stopped on an error they cannot recover from (e.g. the buffer cannot be written)
    stopped: list[str] = field(default_factory=list)


class _LoaderThread(threading.Thread):
    """Loads sealed buffer segments every ``interval`` seconds; survives an unreachable warehouse."""

    def __init__(self, loader: RawLoader, directory: Path, interval: float, say: Callable[[str], None]) -> None:
        super().__init__(name="raw-loader", daemon=True)
        self.loader = loader
        self.directory = directory
        self.interval = interval
        self.say = say
        self.stop_event = threading.Event()
        self.report = LoadReport()
        self.outage_since: float | None = None

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.load_once()

    def load_once(self) -> None:
        try:
            part = self.loader.drain_spool(self.directory, wait_for_lock=False)
        except Exception as exc:  # noqa: BLE001 - the warehouse may be down: keep buffering, retry later
            if self.outage_since is None:
                self.outage_since = time.monotonic()
                self.say(f"warehouse unavailable ({type(exc).__name__}); events stay buffered in "
                         f"{self.directory} and are loaded when it is back")
            log.debug("load failed", exc_info=True)
            return
        if self.outage_since is not None:
            self.say(f"warehouse reachable again after {time.monotonic() - self.outage_since:.0f} s; "
                     "loading the buffered events")
            self.outage_since = None
        self.report.add(part)


class Streamer:
    """Runs the streams of the configured instances until stopped."""

    def __init__(self, config: Config, warehouse: Warehouse | None, *, say: Callable[[str], None] = print,
                 record: Path | None = None, instances: list[InstanceConfig] | None = None) -> None:
        self.config = config
        self.warehouse = warehouse
        self.say = say
        self.record = record
        self.instances = instances if instances is not None else list(config.instances)
        self.stop_event = threading.Event()
        self.workers: list[StreamWorker] = []
        self.backfillers: dict[str, Backfiller] = {}
        self._failures: list[str] = []
        self._failures_lock = threading.Lock()

    def _on_fatal(self, instance: InstanceConfig) -> Callable[[str, str], None]:
        def report(stream: str, message: str) -> None:
            with self._failures_lock:
                self._failures.append(message)
            self.say(f"{instance.instance_id} {stream}: stopped: {message}")
        return report

    def discover_all(self) -> list[InstanceInfo]:
        infos = []
        for instance in self.instances:
            try:
                info = discover(instance)
            except UserError as exc:
                self._failures.append(str(exc))
                self.say(f"{instance.instance_id}: {exc}")
                continue
            running = [p.stream for p in info.plans if p.enabled]
            self.say(f"{instance.instance_id}: {info.title or 'Mastodon'} {info.software_version or ''}".rstrip()
                     + f", streams: {', '.join(running) or 'none'}")
            for plan in info.plans:
                if plan.message:
                    self.say(f"{instance.instance_id} {plan.stream}: {plan.message}")
                    if not plan.enabled:
                        self._failures.append(plan.message)
            infos.append(info)
        return infos

    def stop(self) -> None:
        self.stop_event.set()

    def run(self, *, duration: float | None = None, max_events: int | None = None) -> StreamRunReport:
        if not self.instances:
            raise ConfigError("No Mastodon instances are configured: add them under 'instances:' in "
                              "forkalytics.yml (see forkalytics.example.yml).")
        infos = self.discover_all()
        plans = [(info, plan) for info in infos for plan in info.plans if plan.enabled]
        if not plans:
            raise UserError("No configured stream can run: " + " ".join(self._failures))

        extract = self.config.extract
        loader: RawLoader | None = None
        if self.warehouse is not None:
            dsn = self.warehouse.ensure_running()
            loader = RawLoader(dsn, self.config.state_dir, self.config.privacy)
            loader.load_instances([info.observation() for info in infos])
        checkpoints = CheckpointStore(self.config.state_dir / "checkpoints.json")
        recorder = ArchiveWriter(self.record) if self.record else None
        report = StreamRunReport()

        with SpoolWriter(spool_dir(self.config), extract.batch_max_events, extract.batch_max_seconds,
                         extract.fsync_interval_seconds) as spool:
            def sink(event: RawEvent) -> None:
                spool.append(event)
                if recorder is not None:
                    recorder.write(event)

            loader_thread = None
            if loader is not None:
                loader_thread = _LoaderThread(loader, spool_dir(self.config), extract.batch_max_seconds, self.say)
                loader_thread.load_once()  # what a previous run buffered but did not load
                loader_thread.start()
            for info in infos:
                instance = info.instance
                seen = SeenStatuses()
                resume = [checkpoints.last_data_at(instance.instance_id, p.stream) for p in info.plans]
                resume_from = min((moment for moment in resume if moment is not None), default=None)
                if loader is not None and resume_from is not None:
                    overlap = timedelta(seconds=extract.backfill_overlap_seconds)
                    seen.preload(captured_versions(loader.dsn, instance.instance_id, resume_from - overlap))
                backfiller = Backfiller(instance, sink, seen, page_size=extract.backfill_page_size,
                                        overlap_seconds=extract.backfill_overlap_seconds)
                backfiller.start()
                self.backfillers[instance.instance_id] = backfiller
                for plan in info.plans:
                    if not plan.enabled:
                        continue
                    worker = StreamWorker(instance, plan.stream, info.streaming_url, sink, backfiller, seen,
                                          extract, checkpoints, threading.Event(), self._on_fatal(instance))
                    self.workers.append(worker)
                    worker.start()

            started = time.monotonic()
            status_saved = 0.0
            while not self.stop_event.wait(0.2):
                if time.monotonic() - status_saved >= 2.0:
                    self.write_status(loader_thread)
                    status_saved = time.monotonic()
                if duration is not None and time.monotonic() - started >= duration:
                    break
                if max_events is not None and sum(w.stats.events for w in self.workers) >= max_events:
                    break
                if all(not w.is_alive() for w in self.workers):
                    break
            self._shutdown(checkpoints)
            self.write_status(loader_thread, running=False)
            if recorder is not None:
                recorder.close()
            if loader_thread is not None:
                loader_thread.stop_event.set()
                loader_thread.join()
                report.loaded = loader_thread.report

        # The spool is sealed now: load everything that is left.
        if loader is not None:
            try:
                report.loaded.add(loader.drain_spool(spool_dir(self.config)))
            except Exception as exc:  # noqa: BLE001 - nothing is lost: the segments stay on disk
                self.say(f"could not load the last events now ({type(exc).__name__}); they stay buffered and "
                         "are loaded by the next 'forkalytics stream' or 'forkalytics load --buffered'")
        report.buffered_segments = len(ready_segments(spool_dir(self.config)))
        for worker in self.workers:
            key = f"{worker.instance.instance_id} {worker.stream}"
            report.events[key] = worker.stats.events
            report.reconnects += worker.stats.reconnects
            if worker.failed:
                report.stopped.append(f"{key}: {worker.failed}")
        for instance_id, backfiller in self.backfillers.items():
            report.backfilled[instance_id] = backfiller.recovered
        report.failures = list(self._failures)
        return report

    def write_status(self, loader_thread: _LoaderThread | None, *, running: bool = True) -> None:
        """Save what each stream is doing to ``state_dir/stream_status.json`` for ``forkalytics status``."""
        now = datetime.now(timezone.utc)
        streams = []
        for worker in self.workers:
            stats = worker.stats
            streams.append({
                "instance_id": worker.instance.instance_id, "stream": worker.stream,
                "events": stats.events, "events_by_type": stats.by_type, "connects": stats.connects,
                "reconnects": stats.reconnects, "gap_backfills": worker.gaps,
                "last_event_at": stats.last_event_at.isoformat() if stats.last_event_at else None,
                "last_data_at": stats.last_data_at.isoformat() if stats.last_data_at else None,
                "failed": worker.failed, "alive": worker.is_alive(),
            })
        document = {
            "pid": os.getpid(), "running": running, "written_at": now.isoformat(), "streams": streams,
            "backfill": {key: {"recovered": b.recovered, "gaps_filled": b.gaps_filled, "last_error": b.last_error}
                         for key, b in self.backfillers.items()},
            "warehouse_outage": loader_thread is not None and loader_thread.outage_since is not None,
            "loaded_rows": loader_thread.report.rows if loader_thread is not None else 0,
        }
        path = self.config.state_dir / "stream_status.json"
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(document, indent=1))
            os.replace(tmp, path)
        except OSError:
            log.debug("could not write %s", path, exc_info=True)

    def _shutdown(self, checkpoints: CheckpointStore, backfill_grace: float = 30.0) -> None:
        for worker in self.workers:
            worker.close()
        for worker in self.workers:
            worker.join(timeout=15)
        deadline = time.monotonic() + backfill_grace
        for backfiller in self.backfillers.values():
            backfiller.wait_idle(max(0.0, deadline - time.monotonic()))
            backfiller.stop()
        checkpoints.save()
