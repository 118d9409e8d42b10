"""One whole ELT cycle: load what was buffered, build the marts, enrich, build what depends on enrichment.

``run_cycle`` runs four steps and says one line per step:

1. **load** — every sealed segment of every event buffer under ``state_dir`` (the streamer's, the metric
   poller's, back-fills') into ``raw.stream_events`` (exactly once, see ``extract.raw_loader``);
2. **dbt build** of everything that is not downstream of ``source:enrichment``;
3. **enrich** — ``enrichment.runner.run_enrichment`` (sentiment, summaries, topics; idempotent);
4. **dbt build** of ``source:enrichment+`` (the marts that read enrichment results).

A failed step does not stop the later ones (each of them is idempotent and works on what exists), except
that nothing runs after a load that could not reach the warehouse. The cycle is recorded as one JSON line
in ``state_dir/cycles.jsonl``, which ``forkalytics status`` reads. ``stop_event`` (set by SIGTERM in the
scheduler) skips the steps not yet started.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestration.config import Config
from orchestration.errors import UserError
from orchestration.status import CYCLE_LOG
from orchestration.warehouse import Warehouse

log = logging.getLogger(__name__)

ENRICHMENT_SELECTOR = "source:enrichment+"
CYCLE_LOG_MAX_LINES = 5000


@dataclass
class StepResult:
    """One step of a cycle: ``ok`` is False when it failed, ``skipped`` when it did not run."""

    name: str
    ok: bool
    summary: str
    seconds: float = 0.0
    skipped: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> str:
        verdict = "skipped" if self.skipped else ("ok" if self.ok else "FAILED")
        return f"{self.name}: {verdict}: {self.summary} ({self.seconds:.1f}s)"


@dataclass
class CycleReport:
    started_at: str
    finished_at: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    full_refresh: bool = False

    @property
    def success(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed_steps(self) -> list[str]:
        return [step.name for step in self.steps if not step.ok]

    @property
    def exit_code(self) -> int:
        return 0 if self.success else 1

    def to_record(self) -> dict[str, Any]:
        record = {"started_at": self.started_at, "finished_at": self.finished_at, "success": self.success,
                  "full_refresh": self.full_refresh, "failed_steps": self.failed_steps,
                  "steps": [asdict(step) for step in self.steps]}
        return record


def spool_directories(state_dir: Path) -> list[Path]:
    """Every event buffer under the state directory (stream, poll, back-fill)."""
    return sorted(path for path in Path(state_dir).glob("spool*") if path.is_dir())


def append_cycle_record(state_dir: Path, report: CycleReport) -> None:
    """Append the cycle to ``cycles.jsonl`` (kept to the last few thousand cycles)."""
    path = Path(state_dir) / CYCLE_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(report.to_record(), default=str) + "\n")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    if len(lines) > CYCLE_LOG_MAX_LINES:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines[-CYCLE_LOG_MAX_LINES:]) + "\n", encoding="utf-8")
        tmp.replace(path)


def _one_sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, UserError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_buffered(config: Config, dsn: str) -> StepResult:
    from extract.raw_loader import LoadReport, RawLoader

    started = time.monotonic()
    total = LoadReport()
    loader = RawLoader(dsn, config.state_dir, config.privacy)
    for directory in spool_directories(config.state_dir):
        total.add(loader.drain_spool(directory))
    per = ", ".join(f"{key} {value:,}" for key, value in sorted(total.per_instance.items()))
    summary = f"{total.rows:,} buffered events into raw" + (f" ({per})" if per else "")
    if total.skipped_batches:
        summary += f"; {total.skipped_batches} batch(es) already loaded"
    return StepResult("load", True, summary, time.monotonic() - started,
                      detail={"rows": total.rows, "batches": total.batches, "per_instance": total.per_instance})


def dbt_step(name: str, args: list[str], config: Config, dsn: str, *, quiet: bool = True) -> StepResult:
    from orchestration.dbt_runner import run_dbt

    started = time.monotonic()
    result = run_dbt(args, dsn, state_dir=config.state_dir, quiet=quiet)
    summary = result.summary.split(": ", 1)[1] if ": " in result.summary else result.summary
    summary = summary.removeprefix("ok ")  # the step's line says ok already
    if not result.success and not result.counts:
        # dbt stopped before running anything (bad project, unreachable database): show why.
        tail = [line.strip() for line in result.output_tail.splitlines() if line.strip()]
        start = next((i for i, line in enumerate(tail) if "Encountered an error" in line), None)
        detail = " ".join(tail[start + 1:start + 5]) if start is not None else (tail[-1] if tail else "")
        if detail:
            summary += f"; {detail[:400]}"
    return StepResult(name, result.success, summary, time.monotonic() - started,
                      detail={"counts": result.counts, "failures": result.failures})


def enrich_step(config: Config, dsn: str, say: Callable[[str], None]) -> StepResult:
    from enrichment.runner import run_enrichment

    started = time.monotonic()
    lines: list[str] = []
    report = run_enrichment(dsn, config.enrichment, say=lines.append)
    for line in lines:
        log.info("enrich: %s", line)
    summary = "; ".join(report.lines) or "nothing to do"
    if report.failures:
        summary += f"; {report.failures} item(s) failed and will be retried"
    return StepResult("enrich", True, summary, time.monotonic() - started,
                      detail={"failures": report.failures, "providers": report.providers})


def cycle_build_args(*, full_refresh: bool = False, rebuild_history: bool = False) -> list[str]:
    """The options of a cycle's ``dbt build``. An incremental cycle tests only the rows it wrote
    (var ``test_changed_rows_only``, dbt_project/macros/tests/changed_rows.sql), so its tests do not grow
    with the history; a full refresh rewrites (and so tests) everything. Whole tables are tested by the
    scheduler's daily test run and by any ``dbt build`` / ``dbt test`` run by hand."""
    if not full_refresh:
        return ["--vars", json.dumps({"test_changed_rows_only": True})]
    dbt_vars = {"rebuild_event_history": True} if rebuild_history else {}
    return ["--full-refresh", *(["--vars", json.dumps(dbt_vars)] if dbt_vars else [])]


def run_cycle(config: Config, warehouse: Warehouse, *, say: Callable[[str], None],
              stop_event: threading.Event | None = None, full_refresh: bool = False,
              rebuild_history: bool = False, enrich: bool = True, quiet_dbt: bool = True) -> CycleReport:
    """Run one cycle; say one line per step; record it in ``state_dir/cycles.jsonl``; never raise for a step.

    ``full_refresh`` rebuilds every model except the deduplicated event history, which retention may have
    pruned from raw; ``rebuild_history`` rebuilds that too (only when raw holds every event again).
    """
    stop_event = stop_event or threading.Event()
    report = CycleReport(started_at=datetime.now(timezone.utc).isoformat(), full_refresh=full_refresh)
    refresh = cycle_build_args(full_refresh=full_refresh, rebuild_history=rebuild_history)

    def attempt(name: str, action: Callable[[], StepResult]) -> StepResult:
        if stop_event.is_set():
            step = StepResult(name, True, "stopping", skipped=True)
        else:
            started = time.monotonic()
            try:
                step = action()
            except Exception as exc:  # noqa: BLE001 - a failed step is reported and retried next cycle
                log.debug("step %s failed", name, exc_info=True)
                step = StepResult(name, False, _one_sentence(exc), time.monotonic() - started)
        report.steps.append(step)
        say(step.line)
        return step

    dsn_holder: dict[str, str] = {}

    def load() -> StepResult:
        dsn_holder["dsn"] = warehouse.ensure_running()
        return load_buffered(config, dsn_holder["dsn"])

    loaded = attempt("load", load)
    if loaded.ok and "dsn" in dsn_holder:
        dsn = dsn_holder["dsn"]
        attempt("dbt build", lambda: dbt_step("dbt build", ["build", "--exclude", ENRICHMENT_SELECTOR, *refresh],
                                              config, dsn, quiet=quiet_dbt))
        if enrich:
            attempt("enrich", lambda: enrich_step(config, dsn, say))
        attempt("dbt build enrichment",
                lambda: dbt_step("dbt build enrichment", ["build", "--select", ENRICHMENT_SELECTOR, *refresh],
                                 config, dsn, quiet=quiet_dbt))
    report.finished_at = datetime.now(timezone.utc).isoformat()
    try:
        append_cycle_record(config.state_dir, report)
    except OSError as exc:
        say(f"could not record the cycle in {config.state_dir / CYCLE_LOG}: {exc.strerror or exc}")
    return report
