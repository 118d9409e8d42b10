"""``forkalytics poll``: refresh the engagement counts of recent posts into ``raw``, cycle after cycle.

A cycle, for each configured instance: read from ``raw`` which posts are due (``extract.poll_schedule``),
refresh them within the rate budget (``extract.metric_poller``), and print one line —
``poll <instance>: <due> due, <refreshed> refreshed, <requests> requests, <missing> missing, <waits>
rate-limit waits`` (plus anything unusual). Every observation goes to a durable buffer of the poller's own
(``state_dir/spool-poll``) before anything else, and the buffer is loaded into ``raw.stream_events`` at
the end of each cycle, so a crash loses nothing that was fetched; what a crashed run buffered is loaded
when the next run starts, before it decides what is due.

A cycle refreshes every due post, even when the rate budget makes that take several rate-limit windows
(instances are polled side by side, so one instance's wait does not hold up another); the next cycle
starts ``poll.cycle_seconds`` after the previous one started, or at once when it ran longer.

Nothing is remembered between cycles except in ``raw`` (plus, for the run, which instances lack the batch
endpoint and the rate budget's position in the current window), so a restart resumes where raw says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from extract.mastodon_client import make_client
from extract.metric_poller import ClientFactory, MetricPoller, PollAuthError, RefreshResult
from extract.poll_schedule import due_statuses
from extract.raw_loader import LoadReport, RawLoader
from extract.spool import SpoolBusy, SpoolWriter, ready_segments
from orchestration.config import Config, InstanceConfig
from orchestration.errors import ConfigError, UserError
from orchestration.warehouse import Warehouse

log = logging.getLogger(__name__)

SEGMENT_MAX_SECONDS = 3600.0


def load_off_main_thread(loader: RawLoader, directory: Path) -> LoadReport:
    """``loader.drain_spool(directory)`` on a thread of its own. dlt intercepts SIGINT and SIGTERM while it
    loads on the main thread and forgets them afterwards, so a SIGTERM during a load would never stop the
    poller; off the main thread dlt leaves the signals to our handler."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="poll-load") as pool:
        return pool.submit(loader.drain_spool, directory).result()


def poll_spool_dir(config: Config) -> Path:
    """The poller's own durable buffer (the streamer and the back-fill command have theirs)."""
    return config.state_dir / "spool-poll"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class CycleLine:
    """One instance in one cycle: what the printed line says."""

    instance_id: str
    due: int = 0
    tracked: int = 0
    confirmed_missing: int = 0
    refresh: RefreshResult = field(default_factory=RefreshResult)
    one_by_one: bool = False
    error: str | None = None

    def text(self) -> str:
        if self.error is not None:
            return f"poll {self.instance_id}: {self.error}"
        r = self.refresh
        line = (f"poll {self.instance_id}: {self.due:,} due, {r.refreshed:,} refreshed, {r.requests:,} requests, "
                f"{r.missing:,} missing, {r.rate_limit_waits:,} rate-limit waits")
        extra = []
        if self.one_by_one:
            extra.append("one by one: no batch endpoint")
        if r.throttled:
            extra.append(f"{r.throttled} answered 429")
        if r.retries:
            extra.append(f"{r.retries} retried")
        if r.unfetched:
            extra.append(f"{r.unfetched:,} left for the next cycle")
        return line + (f" ({'; '.join(extra)})" if extra else "")


@dataclass
class PollReport:
    """Totals of a run, per instance, plus what was loaded and what went wrong."""

    cycles: int = 0
    due: int = 0
    refreshed: int = 0
    missing: int = 0
    requests: int = 0
    rate_limit_waits: int = 0
    per_instance: dict[str, RefreshResult] = field(default_factory=dict)
    lines: list[CycleLine] = field(default_factory=list)
    loaded: LoadReport = field(default_factory=LoadReport)
    failures: list[str] = field(default_factory=list)
    buffered_segments: int = 0

    def add(self, line: CycleLine) -> None:
        self.lines.append(line)
        r = line.refresh
        self.due += line.due
        self.refreshed += r.refreshed
        self.missing += r.missing
        self.requests += r.requests
        self.rate_limit_waits += r.rate_limit_waits
        total = self.per_instance.setdefault(line.instance_id, RefreshResult())
        for name in ("asked", "refreshed", "missing", "unfetched", "requests", "batch_requests", "single_requests",
                     "retries", "rate_limit_waits", "throttled"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
        total.errors.extend(r.errors)


BATCH_ENDPOINT_SINCE = (4, 3)


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """Mastodon's ``4.2.10`` (or ``4.3.0+glitch``) as ``(4, 2, 10)``; None when it is not a version."""
    if not text:
        return None
    parts = []
    for piece in text.strip().split(".")[:3]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def batch_endpoint_expected(dsn: str, instance_id: str) -> bool:
    """False when the latest ``raw.instances`` observation says the server is older than Mastodon 4.3 (no
    ``GET /api/v1/statuses?id[]=``); True otherwise, including when the version is unknown (the poller then
    tries the batch endpoint and falls back on a 404 or 422)."""
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('raw.instances') is not null")
            if not cur.fetchone()[0]:
                return True
            cur.execute("select software_version from raw.instances where instance_id = %s "
                        "order by observed_at desc limit 1", (instance_id,))
            row = cur.fetchone()
    finally:
        conn.close()
    version = parse_version(row[0]) if row else None
    return version is None or version[:2] >= BATCH_ENDPOINT_SINCE


class PollRunner:
    """Runs polling cycles over the configured instances until stopped (see the module docstring)."""

    def __init__(self, config: Config, warehouse: Warehouse, *, say: Callable[[str], None] = print,
                 stop_event: threading.Event | None = None, clock: Callable[[], datetime] = _utc_now,
                 client_factory: ClientFactory = make_client, instances: list[InstanceConfig] | None = None,
                 retry_initial_seconds: float = 1.0) -> None:
        self.config = config
        self.warehouse = warehouse
        self.say = say
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self.client_factory = client_factory
        self.instances = instances if instances is not None else list(config.instances)
        self.retry_initial_seconds = retry_initial_seconds
        self.pollers: dict[str, MetricPoller] = {}
        self._refused: set[str] = set()

    def stop(self) -> None:
        self.stop_event.set()

    def _poller(self, instance: InstanceConfig, spool: SpoolWriter) -> MetricPoller:
        poller = self.pollers.get(instance.instance_id)
        if poller is None:
            poll = self.config.poll
            poller = MetricPoller(instance, spool.append, batch_size=poll.batch_size,
                                  budget_share=poll.budget_share, stop_event=self.stop_event, clock=self.clock,
                                  client_factory=self.client_factory,
                                  retry_initial_seconds=self.retry_initial_seconds)
            self.pollers[instance.instance_id] = poller
        poller.sink = spool.append
        return poller

    def _poll_instance(self, instance: InstanceConfig, dsn: str, spool: SpoolWriter,
                       report: PollReport) -> CycleLine:
        line = CycleLine(instance.instance_id)
        poller = self._poller(instance, spool)
        try:
            if poller.batch_endpoint is None and not batch_endpoint_expected(dsn, instance.instance_id):
                poller.batch_endpoint = False  # older than 4.3: no batch endpoint, do not even try
            plan = due_statuses(dsn, instance.instance_id, self.clock(), self.config.poll)
            line.due, line.tracked, line.confirmed_missing = len(plan.due), plan.tracked, plan.confirmed_missing
            line.refresh = poller.refresh([d.status_id for d in plan.due])
        except PollAuthError as exc:
            self._refused.add(instance.instance_id)
            report.failures.append(str(exc))
            line.error = f"stopped: {exc}"
        line.one_by_one = poller.batch_endpoint is False
        self.say(line.text())
        return line

    def cycle(self, dsn: str, spool: SpoolWriter, loader: RawLoader, report: PollReport) -> list[CycleLine]:
        """One cycle over every instance, then load what it fetched.

        Instances are polled side by side (one thread each), so a rate-limit wait on one instance never
        delays another; each prints its line when it is done.
        """
        instances = [i for i in self.instances if i.instance_id not in self._refused]
        for instance in instances:
            self._poller(instance, spool)  # created here, on one thread
        lines: list[CycleLine] = []
        if instances and not self.stop_event.is_set():
            with ThreadPoolExecutor(max_workers=len(instances), thread_name_prefix="poll") as pool:
                futures = [pool.submit(self._poll_instance, instance, dsn, spool, report) for instance in instances]
                lines = [future.result() for future in futures]
        for line in lines:
            report.add(line)
        spool.seal()
        report.loaded.add(load_off_main_thread(loader, spool.directory))
        report.cycles += 1
        return lines

    def run(self, *, once: bool = False, duration: float | None = None) -> PollReport:
        """Run one cycle (``once``) or cycles every ``poll.cycle_seconds`` until stopped or ``duration``."""
        if not self.instances:
            raise ConfigError("No Mastodon instances are configured: add them under 'instances:' in "
                              "forkalytics.yml (see forkalytics.example.yml).")
        dsn = self.warehouse.ensure_running()
        loader = RawLoader(dsn, self.config.state_dir, self.config.privacy)
        directory = poll_spool_dir(self.config)
        report = PollReport()
        timer = None
        if duration is not None:
            timer = threading.Timer(max(0.0, duration), self.stop_event.set)
            timer.daemon = True
            timer.start()
        extract = self.config.extract
        try:
            # Segments are sealed at the end of each cycle (or by size), so one cycle is one load.
            spool = SpoolWriter(directory, extract.batch_max_events, SEGMENT_MAX_SECONDS,
                                extract.fsync_interval_seconds)
            spool.open()
        except SpoolBusy:
            raise UserError(f"Another 'forkalytics poll' is already running with the buffer {directory}.") from None
        try:
            report.loaded.add(load_off_main_thread(loader, directory))  # what a previous run fetched, unloaded
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    self.cycle(dsn, spool, loader, report)
                except psycopg2.OperationalError as exc:
                    if once:
                        raise UserError(f"Polling stopped: the warehouse is unreachable; fetched observations "
                                        f"stay buffered in {directory}.") from exc
                    self.say(f"poll: warehouse unreachable; fetched observations stay buffered in {directory} "
                             "and the next cycle tries again")
                    log.debug("cycle failed", exc_info=True)
                except Exception as exc:  # noqa: BLE001 - keep polling; the buffer keeps what was fetched
                    if once:
                        raise
                    self.say(f"poll: cycle failed ({type(exc).__name__}); fetched observations stay "
                             f"buffered in {directory} and the next cycle tries again")
                    log.debug("cycle failed", exc_info=True)
                if once or (self.instances and len(self._refused) == len(self.instances)):
                    break
                self.stop_event.wait(max(0.0, self.config.poll.cycle_seconds - (time.monotonic() - started)))
        finally:
            if timer is not None:
                timer.cancel()
            spool.close()
        try:
            report.loaded.add(load_off_main_thread(loader, directory))
        except Exception as exc:  # noqa: BLE001 - nothing is lost: the segments stay on disk
            self.say(f"poll: could not load the last observations now ({type(exc).__name__}); they stay buffered "
                     f"in {directory} and are loaded by the next 'forkalytics poll'")
        report.buffered_segments = len(ready_segments(directory))
        return report


def run_poll(config: Config, warehouse: Warehouse, *, say: Callable[[str], None], once: bool = False,
             duration: float | None = None, stop_event: threading.Event | None = None) -> PollReport:
    """Poll the configured instances' recent posts: one cycle with ``once``, else every ``poll.cycle_seconds``
    until ``stop_event`` is set or ``duration`` seconds have passed. Prints one line per instance and cycle."""
    return PollRunner(config, warehouse, say=say, stop_event=stop_event).run(once=once, duration=duration)
