"""``forkalytics poll``: refresh the engagement counts of recent posts into ``raw`` (see orchestration.polling)."""

from __future__ import annotations

import argparse
import threading

from orchestration.config import Config
from orchestration.errors import UserError


def cmd_poll(args: argparse.Namespace, config: Config) -> int:
    from orchestration.cli import _install_stop_signals, say
    from orchestration.polling import PollRunner
    from orchestration.warehouse import Warehouse

    if args.duration is not None and args.duration <= 0:
        raise UserError("--duration must be a positive number of seconds.", exit_code=2)
    instances = [config.instance(url) for url in args.instance] if args.instance else None
    stop = threading.Event()
    runner = PollRunner(config, Warehouse(config.warehouse), say=say, stop_event=stop, instances=instances)
    _install_stop_signals(stop.set)
    report = runner.run(once=args.once, duration=args.duration)
    say(f"poll: {report.cycles} cycle(s), {report.refreshed:,} refreshed, {report.missing:,} missing, "
        f"{report.requests:,} requests, {report.loaded.rows:,} events loaded into raw.stream_events")
    if report.buffered_segments:
        say(f"poll: {report.buffered_segments} buffer segment(s) wait in {config.state_dir / 'spool-poll'} "
            "for the next 'forkalytics poll'")
    if report.failures:
        for failure in report.failures:
            say(f"poll: {failure}")
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    poll = commands.add_parser(
        "poll", help="refresh the engagement counts of recent posts (metric snapshots) into raw",
        description="Refresh the replies, boosts and favourites of every post younger than poll.horizon_hours "
                    "on a schedule tiered by post age (poll.tiers), 20 posts per request where the server has "
                    "the batch endpoint, within poll.budget_share of the rate limit. Observations are buffered, "
                    "then loaded into raw.stream_events (source 'poll'); a status gone on refresh is recorded as "
                    "poll.missing and, once confirmed, no longer polled. Runs until stopped (SIGINT/SIGTERM "
                    "load what was fetched, then exit) unless --once or --duration.")
    poll.add_argument("--once", action="store_true", help="run one cycle over every instance, then exit")
    poll.add_argument("--duration", type=float, metavar="SECONDS",
                      help="stop after this many seconds (the cycle under way is finished and loaded)")
    poll.add_argument("--instance", action="append", metavar="URL",
                      help="poll only this configured instance (repeatable; default: all)")
    poll.set_defaults(func=cmd_poll)
