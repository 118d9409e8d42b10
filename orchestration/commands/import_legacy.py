"""``forkalytics import-legacy``: migrate an installation of the earlier Forkalytics into raw and enrichment."""

from __future__ import annotations

import argparse
import os

from orchestration.config import Config
from orchestration.errors import UserError


def cmd_import_legacy(args: argparse.Namespace, config: Config) -> int:
    from extract.legacy import LegacySource, import_legacy
    from orchestration.cli import say
    from orchestration.warehouse import Warehouse

    dsn = args.dsn or os.environ.get(args.dsn_env or "", "")
    if not dsn:
        raise UserError("Say where the earlier installation's database is: --dsn postgresql://user@host/db, or "
                        "--dsn-env NAME of an environment variable holding that URL.", exit_code=2)
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise UserError("--dsn must be a PostgreSQL URL like postgresql://user:password@host:5432/forkalytics.",
                        exit_code=2)
    LegacySource(dsn, args.schema).close()  # unreachable: say so before starting anything else
    default = args.instance or (config.instances[0].url if len(config.instances) == 1 else None)
    warehouse = Warehouse(config.warehouse)
    report = import_legacy(dsn, warehouse.ensure_running(), config.state_dir, say=say, default_instance=default,
                           schema=args.schema, privacy=getattr(config, "privacy", None))
    for name, table in report.tables.items():
        say(table.line(name))
    say(f"imported {report.events_loaded:,} events into raw.stream_events (source legacy)"
        + (f"; {report.not_migrated:,} row(s) could not be migrated and are kept in raw.legacy_rows"
           if report.not_migrated else "; every row was migrated"))
    say("next: 'forkalytics run --no-enrich' (or 'forkalytics replay') builds the marts with the history")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    legacy = commands.add_parser(
        "import-legacy", help="migrate an earlier Forkalytics installation (its PostgreSQL database)",
        description="Read an earlier Forkalytics database (the original single-instance schema or the improved "
                    "multi-instance one) and migrate it: posts, versions, metric snapshots and deletions become "
                    "events in raw.stream_events with source 'legacy'; sentiments, daily summaries and hourly "
                    "topics go into the enrichment tables. Missing columns are tolerated; rows that cannot be "
                    "migrated are reported and kept in raw.legacy_rows. Importing twice adds nothing.")
    legacy.add_argument("--dsn", metavar="URL", help="the earlier installation's database, postgresql://...")
    legacy.add_argument("--dsn-env", metavar="NAME", help="or: an environment variable holding that URL")
    legacy.add_argument("--schema", default="public", help="its schema (default public)")
    legacy.add_argument("--instance", metavar="URL",
                        help="the instance its posts came from, for the single-instance schema "
                             "(default: the only configured instance)")
    legacy.set_defaults(func=cmd_import_legacy)
