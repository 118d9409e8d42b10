"""The ``forkalytics`` command line.

Every command has ``--help``. Errors a user can cause end with one sentence on stderr and a non-zero exit
code (2 for bad configuration or usage); ``--verbose`` adds the details a bug report needs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from orchestration.config import Config, load_config
from orchestration.errors import UserError
from orchestration.warehouse import Warehouse

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def say(message: str) -> None:
    print(message, flush=True)


def _install_stop_signals(stop: Callable[[], None]) -> None:
    """SIGINT and SIGTERM stop the work cleanly (buffered events are sealed and loaded)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: object) -> None:
        say(f"received {signal.Signals(signum).name}: stopping after flushing buffered events")
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{text!r} is not a date and time like 2026-11-25T12:00:00Z.", exit_code=2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- db -------------------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace, config: Config) -> int:
    warehouse = Warehouse(config.warehouse)
    if args.action == "start":
        dsn = warehouse.ensure_running()
        say(f"warehouse ready at {dsn}" if warehouse.embedded else f"using the external warehouse {dsn}")
    elif args.action == "stop":
        if warehouse.embedded is None:
            say("the warehouse is an external server (FORKALYTICS_DATABASE_URL); nothing to stop")
        elif warehouse.embedded.stop():
            say("embedded warehouse stopped")
        else:
            say("embedded warehouse was not running")
    elif args.action == "status":
        info = warehouse.status()
        state = "running" if info.get("running") else "stopped"
        say(f"{info['mode']} warehouse: {state}; dsn {info['dsn']}"
            + (f"; data in {info['data_dir']}" if info.get("data_dir") else ""))
        return 0 if info.get("running") else 3
    elif args.action == "url":
        print(warehouse.dsn_for_role(args.role) if args.role else warehouse.dsn)
    elif args.action == "grant-bi":
        from orchestration.bi_access import grant_bi

        warehouse.ensure_running()
        say(grant_bi(warehouse, role=args.role or "forkalytics_bi"))
        say(f"connect with: {warehouse.dsn_for_role(args.role or 'forkalytics_bi')}")
    return 0


# -- stream / backfill / load ---------------------------------------------------------------------
def _selected_instances(config: Config, urls: Sequence[str] | None):
    return [config.instance(url) for url in urls] if urls else list(config.instances)


def _print_load(report, prefix: str = "loaded") -> None:
    per = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.per_instance.items())) or "none"
    extra = []
    if report.rows_with_errors:
        extra.append(f"{report.rows_with_errors:,} with a recorded payload error")
    if report.skipped_batches:
        extra.append(f"{report.skipped_batches} batch(es) already loaded, skipped")
    if report.damaged_lines:
        extra.append(f"{report.damaged_lines} buffer line(s) cut short by a crash")
    say(f"{prefix} {report.rows:,} events into raw.stream_events ({per})"
        + (f"; {'; '.join(extra)}" if extra else ""))


def cmd_stream(args: argparse.Namespace, config: Config) -> int:
    from orchestration.streamer import Streamer

    warehouse = None if args.no_load else Warehouse(config.warehouse)
    streamer = Streamer(config, warehouse, say=say, record=Path(args.record) if args.record else None,
                        instances=_selected_instances(config, args.instance))
    _install_stop_signals(streamer.stop)
    report = streamer.run(duration=args.duration, max_events=args.max_events)
    for key, count in sorted(report.events.items()):
        say(f"{key}: {count:,} events received")
    for instance_id, count in sorted(report.backfilled.items()):
        if count:
            say(f"{instance_id}: {count:,} statuses recovered by back-fill")
    if warehouse is not None:
        _print_load(report.loaded)
    if report.buffered_segments:
        say(f"{report.buffered_segments} buffer segment(s) wait in {config.state_dir / 'spool'} for the next load")
    if report.stopped:
        say(f"{len(report.stopped)} stream(s) stopped on an error; exit code 1 so a supervisor notices")
        return 1
    if report.failures and not any(report.events.values()):
        return 1
    return 0


def cmd_backfill(args: argparse.Namespace, config: Config) -> int:
    from extract.backfill import Backfiller, BackfillJob, SeenStatuses
    from extract.raw_loader import RawLoader
    from extract.spool import SpoolWriter

    since = _parse_moment(args.since) if args.since else datetime.now(timezone.utc) - timedelta(hours=args.hours)
    until = _parse_moment(args.until) if args.until else None
    if until is not None and until <= since:
        raise UserError("--until must be later than --since.", exit_code=2)
    warehouse = Warehouse(config.warehouse)
    dsn = warehouse.ensure_running()
    directory = config.state_dir / "spool-backfill"
    total = 0
    with SpoolWriter(directory, config.extract.batch_max_events, config.extract.batch_max_seconds) as spool:
        for instance in _selected_instances(config, args.instance):
            streams = args.stream or list(instance.streams)
            backfiller = Backfiller(instance, spool.append, SeenStatuses(),
                                    page_size=config.extract.backfill_page_size, overlap_seconds=0)
            for stream in streams:
                result = backfiller.fill(BackfillJob(stream, since, until, reason="on demand"))
                total += result.stored
                say(f"{instance.instance_id} {stream}: {result.stored:,} statuses in {result.pages} page(s)")
    report = RawLoader(dsn, config.state_dir, config.privacy).drain_spool(directory)
    _print_load(report)
    return 0


def cmd_load(args: argparse.Namespace, config: Config) -> int:
    from extract.archive import load_archive
    from extract.raw_loader import RawLoader
    from orchestration.progress import Progress
    from orchestration.streamer import spool_dir

    if not args.source and not args.buffered:
        raise UserError("Say what to load: --from FILE.jsonl, or --buffered for events the streamer buffered.",
                        exit_code=2)
    warehouse = Warehouse(config.warehouse)
    loader = RawLoader(warehouse.ensure_running(), config.state_dir, config.privacy)
    if args.buffered:
        _print_load(loader.drain_spool(spool_dir(config)), "loaded buffered:")
    if args.source:
        path = Path(args.source)
        if not path.is_file():
            raise UserError(f"{path} does not exist.", exit_code=2)
        progress = Progress(f"loading {path.name}", say)
        report = load_archive(path, loader, default_instance=args.instance,
                              on_batch=progress.update)
        say(progress.finish())
        _print_load(report)
    return 0


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from orchestration.status import collect, render_table

    status = collect(config, Warehouse(config.warehouse))
    print(status.to_json() if args.json else render_table(status))
    unhealthy = status.warehouse_error or any(s.state in ("stalled", "failed") for s in status.instances)
    return 1 if unhealthy else 0


# -- simulate / demo ------------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace, config: Config) -> int:
    from extract.simulator import serve_forever
    from extract.simulator.__main__ import config_from_args

    try:
        simulator_config = config_from_args(args)
    except ValueError as exc:
        raise UserError(f"{exc}.", exit_code=2) from None
    try:
        serve_forever(simulator_config)
    except OSError as exc:
        raise UserError(f"Cannot start the simulated instance on {args.host}:{args.port}: "
                        f"{exc.strerror or exc}.") from None
    return 0


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from orchestration.demo import run_demo

    return run_demo(config, seconds=args.seconds, say=say)


# -- parser ---------------------------------------------------------------------------------------
# Commands that live in modules of their own: each module has ``register(commands)``, which adds its
# subparser(s) with ``set_defaults(func=...)``; the function takes ``(args, config)`` and returns the exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "orchestration.commands.run",
    "orchestration.commands.schedule",
    "orchestration.commands.replay",
    "orchestration.commands.import_legacy",
    "orchestration.commands.enrich",
    "orchestration.commands.poll",
    "orchestration.commands.docs",
    "orchestration.commands.retention",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forkalytics",
        description="Mastodon streams into a PostgreSQL analytics warehouse (extract with dlt, model with dbt).",
    )
    parser.add_argument("--config", help="configuration file (default: $FORKALYTICS_CONFIG or ./forkalytics.yml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details, and tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser("db", help="start, stop or inspect the warehouse",
                             description="Manage the embedded PostgreSQL warehouse (or show the external one).")
    db.add_argument("action", choices=["start", "stop", "status", "url", "grant-bi"],
                    help="start: start (or reuse) and create schemas; stop; status; url: print a DSN for psql/BI; "
                         "grant-bi: create the read-only BI role (marts only)")
    db.add_argument("--role", help="with url: a DSN for this role; with grant-bi: the role name "
                                   "(default forkalytics_bi; password from FORKALYTICS_BI_PASSWORD)")
    db.set_defaults(func=cmd_db)

    stream = commands.add_parser("stream", help="stream every configured instance into raw",
                                 description="Stream the configured instances into raw.stream_events, "
                                             "back-filling every gap, until stopped (Ctrl-C or SIGTERM).")
    stream.add_argument("--instance", action="append", metavar="URL", help="only this instance (repeatable)")
    stream.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    stream.add_argument("--max-events", type=int, metavar="N", help="stop after this many events")
    stream.add_argument("--record", metavar="FILE.jsonl", help="also append every event to this archive")
    stream.add_argument("--no-load", action="store_true",
                        help="only buffer (and record) events; load them later with 'load --buffered'")
    stream.set_defaults(func=cmd_stream)

    backfill = commands.add_parser("backfill", help="fetch a time range over REST into raw",
                                   description="Fetch the statuses of each configured stream's timeline for a "
                                               "time range over REST (rate limits respected) into raw.")
    when = backfill.add_mutually_exclusive_group()
    when.add_argument("--since", metavar="TIME", help="start, ISO 8601 (e.g. 2026-11-25T10:00:00Z)")
    when.add_argument("--hours", type=float, default=1.0, help="the last N hours (default 1)")
    backfill.add_argument("--until", metavar="TIME", help="end, ISO 8601 (default: now)")
    backfill.add_argument("--instance", action="append", metavar="URL", help="only this instance (repeatable)")
    backfill.add_argument("--stream", action="append", metavar="STREAM",
                          help="only this stream's timeline (repeatable; default: the configured streams)")
    backfill.set_defaults(func=cmd_backfill)

    load = commands.add_parser("load", help="load an event archive (JSON Lines) or buffered events",
                               description="Load an archive of events, one JSON object per line "
                                           "({event, payload, instance, stream, received_at}); .jsonl.gz too. "
                                           "Loading the same file twice adds nothing.")
    load.add_argument("--from", dest="source", metavar="FILE.jsonl", help="the archive to load")
    load.add_argument("--instance", metavar="URL", help="instance for lines that do not name one")
    load.add_argument("--buffered", action="store_true", help="load what 'stream --no-load' buffered")
    load.set_defaults(func=cmd_load)

    status = commands.add_parser("status", help="per instance: flow, gaps, load lag, freshness, failures",
                                 description="Show, per instance, the last event received, events per minute, "
                                             "gap recoveries, load lag, payload errors, failed enrichment, the "
                                             "buffer and the last cycle. Exit code 1 when something is stalled, "
                                             "failed or unreachable.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    simulate = commands.add_parser("simulate", help="run a simulated Mastodon instance on a local port",
                                   description="Serve a simulated Mastodon 4.x instance (REST + streaming) "
                                               "with deterministic content, for demos and tests.")
    from extract.simulator.__main__ import add_arguments as add_simulator_arguments

    add_simulator_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)

    demo = commands.add_parser("demo", help="two simulated instances streamed into the embedded warehouse",
                               description="Start the embedded warehouse and two simulated instances, stream "
                                           "both into raw for a while, and print what was loaded.")
    demo.add_argument("--seconds", type=float, default=20.0, help="how long to stream (default 20)")
    demo.set_defaults(func=cmd_demo)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        return args.func(args, config)
    except UserError as exc:
        if args.verbose:
            logging.exception("error")
        print(f"forkalytics: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("forkalytics: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one sentence for the user; details with --verbose
        if args.verbose:
            logging.exception("unexpected error")
        print(f"forkalytics: unexpected {type(exc).__name__}: {exc} (rerun with --verbose for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
