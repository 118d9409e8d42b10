"""``forkalytics run``: one whole ELT cycle (load, dbt build, enrichment, dbt build of what depends on it)."""

from __future__ import annotations

import argparse

from orchestration.config import Config


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from orchestration.cli import say
    from orchestration.cycle import run_cycle
    from orchestration.warehouse import Warehouse

    report = run_cycle(config, Warehouse(config.warehouse), say=say, enrich=not args.no_enrich)
    if report.success:
        say("cycle ok")
    else:
        where = (f" (dbt's log: {config.state_dir / 'dbt' / 'logs' / 'dbt.log'})"
                 if any(step.startswith("dbt") for step in report.failed_steps) else "")
        say(f"cycle failed: {', '.join(report.failed_steps)}{where}")
    return report.exit_code


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run", help="one whole ELT cycle: load buffered events, dbt build, enrich, dbt build",
        description="Load the events the extractor buffered, build every model that does not depend on "
                    "enrichment (dbt build), run enrichment, then build the models that depend on it. One line "
                    "per step; exit code 1 when any step failed. The cycle is recorded for 'forkalytics status'.")
    run.add_argument("--no-enrich", action="store_true",
                     help="skip the enrichment step (the enrichment marts are still rebuilt from what exists)")
    run.set_defaults(func=cmd_run)
