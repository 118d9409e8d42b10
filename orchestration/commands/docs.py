"""``forkalytics docs``: the marts' data dictionary (docs/data-dictionary.md) from ``dbt docs generate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.config import Config


def cmd_docs(args: argparse.Namespace, config: Config) -> int:
    from orchestration.cli import say
    from orchestration.data_dictionary import DEFAULT_OUTPUT, generate
    from orchestration.warehouse import Warehouse

    warehouse = Warehouse(config.warehouse)
    dsn = warehouse.ensure_running()
    warehouse.bootstrap()  # the raw sources exist before dbt reads their catalog
    generate(dsn, config.state_dir, Path(args.output) if args.output else DEFAULT_OUTPUT, say=say)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    docs = commands.add_parser(
        "docs", help="write the marts' data dictionary (docs/data-dictionary.md) with dbt docs generate",
        description="Run 'dbt docs generate' against the warehouse and turn its manifest and catalog into a "
                    "Markdown data dictionary: every mart with its description, key, tests and columns (types, "
                    "descriptions, tests). The dbt artifacts stay in <state_dir>/dbt/target for 'dbt docs serve'.")
    docs.add_argument("--output", metavar="FILE", help="where to write the Markdown (default docs/data-dictionary.md)")
    docs.set_defaults(func=cmd_docs)
