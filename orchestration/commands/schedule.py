"""``forkalytics schedule``: streams, metric polling, a cycle every N minutes and the daily jobs, unattended."""

from __future__ import annotations

import argparse

from orchestration.config import Config


def cmd_schedule(args: argparse.Namespace, config: Config) -> int:
    from orchestration.cli import _install_stop_signals, say
    from orchestration.scheduler import Scheduler
    from orchestration.warehouse import Warehouse

    scheduler = Scheduler(config, Warehouse(config.warehouse), say=say, max_cycles=args.cycles)
    _install_stop_signals(scheduler.stop)
    report = scheduler.run()
    say(f"schedule stopped: {len(report.cycles)} cycle(s), {report.failed_cycles} failed; "
        f"{report.stream_events:,} events streamed, {report.loaded_rows:,} loaded"
        + (f"; {report.buffered_segments} buffer segment(s) wait for the next run" if report.buffered_segments
           else "; nothing left in the buffers"))
    return 0 if report.buffered_segments == 0 else 1


def register(commands: argparse._SubParsersAction) -> None:
    schedule = commands.add_parser(
        "schedule", help="the unattended mode: stream, poll, a cycle every N minutes, daily jobs",
        description="Stream every configured instance, poll metrics, run a whole ELT cycle every "
                    "schedule.cycle_minutes (default 5) and the daily summary and retention after "
                    "schedule.daily_at (UTC), until stopped with SIGTERM or Ctrl-C (buffered events are loaded "
                    "before it exits). Only one scheduler runs per state directory. A failed step is reported "
                    "and retried at the next cycle.")
    schedule.add_argument("--cycles", type=int, metavar="N", help="stop after N cycles (for trials)")
    schedule.set_defaults(func=cmd_schedule)
