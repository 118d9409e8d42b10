"""``forkalytics retention``: redact deleted posts, archive and prune old raw events (see orchestration.retention)."""

from __future__ import annotations

import argparse

from orchestration.config import Config
from orchestration.errors import UserError


def cmd_retention(args: argparse.Namespace, config: Config) -> int:
    from orchestration.cli import say
    from orchestration.retention import run_retention
    from orchestration.warehouse import Warehouse

    if args.raw_days is not None and args.raw_days <= 0:
        raise UserError("--raw-days must be a positive number of days.", exit_code=2)
    run_retention(config, Warehouse(config.warehouse), say=say, raw_events_days=args.raw_days)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    retention = commands.add_parser(
        "retention", help="redact deleted posts in raw; archive and delete raw events past the retention window",
        description="Blank the text of deleted posts in raw.stream_events, then archive the raw events older than "
                    "retention.raw_events_days (default 30) to a gzip JSON Lines file in retention.archive_dir "
                    "(replay it with 'forkalytics load --from FILE') and delete them. Only events dbt has "
                    "incorporated into the marts are touched, so run it after 'forkalytics run'. Metric "
                    "snapshots are thinned by the post_metric_snapshots model (dbt vars metric_snapshots_keep_*).")
    retention.add_argument("--raw-days", type=float, metavar="DAYS",
                           help="archive and delete raw events older than this many days (overrides the configuration)")
    retention.set_defaults(func=cmd_retention)
