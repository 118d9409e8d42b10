"""``forkalytics replay``: rebuild every mart from raw (and archives) with a full refresh."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.config import Config


def cmd_replay(args: argparse.Namespace, config: Config) -> int:
    from orchestration.cli import say
    from orchestration.replay import replay
    from orchestration.warehouse import Warehouse

    report = replay(config, Warehouse(config.warehouse), say=say,
                    archives=[Path(path) for path in args.archive or []], default_instance=args.instance,
                    enrich=not args.no_enrich, quiet_dbt=args.quiet)
    say("replay ok" if report.success else f"replay failed: {', '.join(report.failed_steps)}")
    return report.exit_code


def register(commands: argparse._SubParsersAction) -> None:
    replay = commands.add_parser(
        "replay", help="rebuild every mart from raw (and archives) with a full refresh",
        description="Load the given event archives (JSON Lines; idempotent), then rebuild every model from "
                    "raw.stream_events with dbt --full-refresh, run enrichment (results of unchanged post "
                    "versions are reused) and rebuild the enrichment marts. Use it after a model changed.")
    replay.add_argument("--archive", action="append", metavar="FILE.jsonl",
                        help="an archive to load first (repeatable; .jsonl.gz too)")
    replay.add_argument("--instance", metavar="URL", help="instance for archive lines that do not name one")
    replay.add_argument("--no-enrich", action="store_true", help="skip the enrichment step")
    replay.add_argument("--quiet", action="store_true", help="one line per step instead of dbt's own progress")
    replay.set_defaults(func=cmd_replay)
