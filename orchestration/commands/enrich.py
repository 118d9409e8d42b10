"""``forkalytics enrich``: sentiment, daily summaries and hourly topics, once, into the ``enrichment`` schema.

With no LLM key configured the offline providers are used (VADER, extractive summaries, co-occurrence topics)
and the command says so in its first line. Failed items are recorded with their error and retried on
schedule by later runs; the exit code is 1 when something failed in this run.
"""

from __future__ import annotations

import argparse
from datetime import date

from orchestration.config import Config
from orchestration.errors import UserError


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--day {text!r} is not a date like 2026-11-25.", exit_code=2) from None


def cmd_enrich(args: argparse.Namespace, config: Config) -> int:
    from enrichment.runner import TASKS, run_enrichment
    from orchestration.cli import say
    from orchestration.warehouse import Warehouse

    day = _parse_day(args.day) if args.day else None
    dsn = Warehouse(config.warehouse).ensure_running()
    report = run_enrichment(dsn, config.enrichment, say=say, tasks=args.task or TASKS, force=args.force, day=day)
    for task, provider in report.providers.items():
        say(f"{task} provider: {provider}")
    if report.failures:
        say(f"{report.failures} item(s) failed in this run; they are recorded with their error and retried "
            "on schedule (see enrichment.post_sentiments.next_retry_at)")
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    enrich = commands.add_parser(
        "enrich", help="sentiment, daily summaries and hourly topics into the enrichment schema",
        description="Score the sentiment of every post version not yet analysed, summarise every complete day "
                    "and find the topics of every complete hour, writing audited rows into the enrichment "
                    "schema (dbt sources). Without an LLM key the offline providers are used. Inputs already "
                    "analysed are never sent again; failures are recorded and retried on schedule.")
    enrich.add_argument("--task", action="append", choices=["sentiment", "summaries", "topics"],
                        help="only this task (repeatable; default: all three, in that order)")
    enrich.add_argument("--force", action="store_true",
                        help="retry failed posts now and regenerate the latest complete day and hour "
                             "(with --day: that day's summary and all its hours)")
    enrich.add_argument("--day", metavar="YYYY-MM-DD",
                        help="only this calendar day (in enrichment.summaries.time_zone) for summaries and topics")
    enrich.set_defaults(func=cmd_enrich)
