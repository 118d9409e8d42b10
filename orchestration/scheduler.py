"""``forkalytics schedule``: the unattended mode.

One process does everything, one at a time per state directory (a lock file):

* streams every configured instance (``orchestration.streamer.Streamer``, in a thread of its own; its loader
  moves buffered events into ``raw`` every few seconds);
* polls metrics (``orchestration.polling.run_poll``, in a thread of its own);
* runs a whole ELT cycle (``orchestration.cycle.run_cycle``) every ``schedule.cycle_minutes``;
* once a UTC day, after ``schedule.daily_at``: the daily summary (enrichment's summaries task), every
  dbt data test over whole tables (a cycle tests only the rows it wrote) and retention (when
  ``forkalytics retention`` is installed).

A failing step is reported and simply runs again next cycle; a thread that dies (an unreachable instance,
say) is restarted at the next cycle. Streams never stop for a failed cycle. SIGTERM or SIGINT stops
everything cleanly: the current dbt step finishes, the remaining steps are skipped, the streams are closed
and every buffered event is loaded before the process exits.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from extract.spool import SpoolBusy, exclusive_lock
from orchestration.config import Config
from orchestration.cycle import CycleReport, dbt_step, run_cycle
from orchestration.errors import ConfigError, UserError
from orchestration.warehouse import Warehouse

log = logging.getLogger(__name__)

LOCK_NAME = "schedule.lock"
# ``forkalytics retention`` (its module and function); the daily job calls it when it is installed.
RETENTION_ENTRY_POINTS = (("orchestration.retention", "run_retention"),)


@dataclass
class ScheduleReport:
    cycles: list[CycleReport] = field(default_factory=list)
    daily_runs: list[str] = field(default_factory=list)
    thread_failures: list[str] = field(default_factory=list)
    stream_events: int = 0
    loaded_rows: int = 0
    buffered_segments: int = 0

    @property
    def failed_cycles(self) -> int:
        return sum(1 for cycle in self.cycles if not cycle.success)


def find_retention() -> Callable | None:
    """The retention job's function when the retention module is installed, else None."""
    for module_name, function in RETENTION_ENTRY_POINTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if callable(getattr(module, function, None)):
            return getattr(module, function)
    return None


class _Worker:
    """A long-running part (streams, polling) on a thread of its own; restartable after it dies."""

    def __init__(self, name: str, target: Callable[[], object], say: Callable[[str], None]) -> None:
        self.name = name
        self.target = target
        self.say = say
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.result: object = None
        self.starts = 0

    def start(self) -> None:
        self.error = None
        self.starts += 1
        self.thread = threading.Thread(target=self._run, name=f"schedule-{self.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.target()
        except (UserError, ConfigError) as exc:
            self.error = str(exc)
            self.say(f"{self.name}: stopped: {exc}; retried at the next cycle")
        except Exception as exc:  # noqa: BLE001 - reported; restarted at the next cycle
            self.error = f"{type(exc).__name__}: {exc}"
            log.debug("%s failed", self.name, exc_info=True)
            self.say(f"{self.name}: stopped: {self.error}; retried at the next cycle")

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.alive


class Scheduler:
    def __init__(self, config: Config, warehouse: Warehouse, *, say: Callable[[str], None],
                 max_cycles: int | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.warehouse = warehouse
        self.say = say
        self.max_cycles = max_cycles
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.stop_event = threading.Event()
        self.streamer = None
        self.report = ScheduleReport()
        self._daily_done: date | None = None

    def stop(self) -> None:
        self.stop_event.set()
        if self.streamer is not None:
            self.streamer.stop()

    # -- the parts ---------------------------------------------------------------------------------
    def _stream(self) -> object:
        from orchestration.streamer import Streamer

        self.streamer = Streamer(self.config, self.warehouse, say=self.say)
        if self.stop_event.is_set():
            return None
        return self.streamer.run()

    def _poll(self) -> object:
        from orchestration.polling import run_poll

        return run_poll(self.config, self.warehouse, say=self.say, stop_event=self.stop_event)

    def _daily_due(self, now: datetime) -> bool:
        hours, minutes = (int(part) for part in self.config.schedule.daily_at.split(":"))
        due_today = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        return now >= due_today and self._daily_done != now.date()

    def _daily_jobs(self, now: datetime) -> None:
        from enrichment.runner import run_enrichment

        self._daily_done = now.date()
        state = self._daily_state_path()
        try:
            dsn = self.warehouse.ensure_running()
            summary = run_enrichment(dsn, self.config.enrichment, say=lambda _line: None, tasks=("summaries",))
            self.say(f"daily summary: ok: {'; '.join(summary.lines) or 'nothing to do'}")
            self.report.daily_runs.append("summary")
        except Exception as exc:  # noqa: BLE001 - tried again at the next cycle
            self._daily_done = None
            self.say(f"daily summary: FAILED: {exc}; retried at the next cycle")
            return
        # each cycle tests only the rows it wrote (cycle_build_args); once a day every test reads every row
        tests = dbt_step("daily tests", ["test"], self.config, dsn)
        self.say(tests.line)
        if tests.ok:
            self.report.daily_runs.append("tests")
        if self.config.schedule.retention:
            retention = find_retention()
            if retention is None:
                self.say("retention: not installed in this version; skipped")
            else:
                try:
                    result = retention(self.config, self.warehouse, say=self.say)
                    self.say(f"retention: ok{': ' + str(result) if result is not None else ''}")
                    self.report.daily_runs.append("retention")
                except Exception as exc:  # noqa: BLE001 - tried again tomorrow; the data is only kept longer
                    self.say(f"retention: FAILED: {exc}; tried again at the next daily run")
        try:
            state.write_text(now.date().isoformat())
        except OSError:
            log.debug("could not write %s", state, exc_info=True)

    def _daily_state_path(self) -> Path:
        return self.config.state_dir / "schedule_daily.txt"

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> ScheduleReport:
        schedule = self.config.schedule
        if schedule.stream and not self.config.instances:
            raise ConfigError("No Mastodon instances are configured: add them under 'instances:' in "
                              "forkalytics.yml, or set schedule.stream: false to only run cycles.")
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            with exclusive_lock(self.config.state_dir / LOCK_NAME, "scheduler", wait=False):
                return self._run_locked()
        except SpoolBusy:
            raise UserError(f"Another 'forkalytics schedule' is already running with the state directory "
                            f"{self.config.state_dir}.") from None

    def _run_locked(self) -> ScheduleReport:
        schedule = self.config.schedule
        try:
            self._daily_done = date.fromisoformat(self._daily_state_path().read_text().strip())
        except (OSError, ValueError):
            self._daily_done = None
        self.warehouse.ensure_running()
        workers = []
        if schedule.stream:
            workers.append(_Worker("stream", self._stream, self.say))
        if schedule.poll and self.config.instances:
            workers.append(_Worker("poll", self._poll, self.say))
        for worker in workers:
            worker.start()
        interval = schedule.cycle_minutes * 60.0
        self.say(f"schedule: a cycle every {schedule.cycle_minutes:g} min; daily jobs after {schedule.daily_at} "
                 f"UTC; {', '.join(w.name for w in workers) or 'no streams'} running")
        next_cycle = time.monotonic() + interval
        try:
            while not self.stop_event.wait(max(0.0, next_cycle - time.monotonic())):
                next_cycle = time.monotonic() + interval
                for worker in workers:
                    if not worker.alive and worker.error is not None and not self.stop_event.is_set():
                        self.report.thread_failures.append(f"{worker.name}: {worker.error}")
                        self.say(f"{worker.name}: restarting")
                        worker.start()
                number = len(self.report.cycles) + 1
                self.say(f"cycle {number}: started")
                cycle = run_cycle(self.config, self.warehouse, say=self.say, stop_event=self.stop_event)
                self.report.cycles.append(cycle)
                self.say(f"cycle {number}: " + ("ok" if cycle.success else
                                                f"failed ({', '.join(cycle.failed_steps)}); retried next cycle"))
                now = self.clock()
                if not self.stop_event.is_set() and self._daily_due(now):
                    self._daily_jobs(now)
                if self.max_cycles is not None and len(self.report.cycles) >= self.max_cycles:
                    break
        finally:
            self.stop()
            self.say("schedule: stopping: closing streams and loading buffered events")
            for worker in workers:
                if not worker.join(timeout=120):
                    self.say(f"{worker.name}: did not stop within 120 s")
            self._final_load()
        stream_report = next((w.result for w in workers if w.name == "stream"), None)
        if stream_report is not None:
            self.report.stream_events = sum(stream_report.events.values())
            self.report.loaded_rows += stream_report.loaded.rows
        return self.report

    def _final_load(self) -> None:
        """Load whatever any buffer still holds (the streamer and the poller flush theirs themselves)."""
        from orchestration.cycle import load_buffered

        try:
            step = load_buffered(self.config, self.warehouse.dsn)
            self.report.loaded_rows += step.detail.get("rows", 0)
        except Exception as exc:  # noqa: BLE001 - nothing is lost: the segments stay on disk
            self.say(f"could not load the last buffered events ({type(exc).__name__}); they stay in "
                     f"{self.config.state_dir} and are loaded by the next run")
        from extract.spool import ready_segments
        from orchestration.cycle import spool_directories

        self.report.buffered_segments = sum(len(ready_segments(d)) for d in spool_directories(self.config.state_dir))
