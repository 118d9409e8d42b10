"""``forkalytics replay``: rebuild every mart from ``raw`` (after loading archives), with a full refresh.

For when a model changes: incremental models only read new events, so a changed model needs a full
rebuild from the event log, which keeps everything. Archives given with ``--archive`` are loaded first
(idempotent: an archive already loaded adds nothing), with progress lines (rows, rate, ETA). The rebuild is
one cycle with ``--full-refresh`` (see ``orchestration.cycle``): buffered events are loaded, every model is
rebuilt, enrichment runs (results already computed for an unchanged post version are reused, never
recomputed) and the enrichment marts are rebuilt. dbt's own output shows its progress node by node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from orchestration.config import Config
from orchestration.cycle import CycleReport, run_cycle
from orchestration.errors import UserError
from orchestration.warehouse import Warehouse


def raw_event_count(warehouse: Warehouse) -> int:
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from raw.stream_events")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def replay(config: Config, warehouse: Warehouse, *, say: Callable[[str], None], archives: Sequence[Path] = (),
           default_instance: str | None = None, enrich: bool = True, quiet_dbt: bool = False) -> CycleReport:
    from extract.archive import load_archive
    from extract.raw_loader import RawLoader
    from orchestration.progress import Progress

    missing = [path for path in archives if not Path(path).is_file()]
    if missing:
        raise UserError(f"{missing[0]} does not exist.", exit_code=2)
    dsn = warehouse.ensure_running()
    if archives:
        loader = RawLoader(dsn, config.state_dir, config.privacy)
        for path in archives:
            progress = Progress(f"loading {Path(path).name}", say)
            report = load_archive(Path(path), loader, default_instance=default_instance,
                                  on_batch=progress.update)
            say(progress.finish() + f" ({report.rows:,} new, {report.skipped_batches} batch(es) already loaded)")
    pruned = pruned_archives(config)
    rebuild_history = bool(archives) or not pruned
    say(f"replaying {raw_event_count(warehouse):,} raw events into every mart (full refresh)")
    if not rebuild_history:
        say(f"retention has archived and pruned old raw events ({len(pruned)} archive(s) in {pruned[0].parent}): "
            "the deduplicated event history is kept as it is and everything built from it is rebuilt; to rebuild "
            "the history itself after a change to its model, pass those archives with --archive")
    return run_cycle(config, warehouse, say=say, full_refresh=True, rebuild_history=rebuild_history,
                     enrich=enrich, quiet_dbt=quiet_dbt)


def pruned_archives(config: Config) -> list[Path]:
    """The archives ``forkalytics retention`` wrote (raw events it pruned), oldest first."""
    directory = config.retention.archive_dir or config.state_dir / "archive"
    return sorted(Path(directory).glob("*.jsonl*")) if Path(directory).is_dir() else []
