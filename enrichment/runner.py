"""One enrichment run: sentiment, then daily summaries, then hourly topics, against the warehouse.

``run_enrichment`` creates the ``enrichment`` tables when missing, checks that the marts it reads exist,
picks the providers (saying in one line when it falls back to the offline ones because no LLM key is
configured), runs the requested tasks in that order (summaries and topics use the sentiment just computed)
and returns an :class:`EnrichmentReport`. It says one line per task. Provider failures do not raise: they
are recorded in the rows and counted in the report, and retried by later runs.

The command line wraps it as ``forkalytics enrich [--task sentiment|summaries|topics ...] [--force]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import psycopg2

from enrichment.providers.factory import build_providers
from enrichment.schema import ensure_schema
from enrichment.sentiment import SentimentReport, SentimentTask
from enrichment.settings import EnrichmentSettings
from enrichment.summaries import SummaryReport, SummaryTask
from enrichment.topics import TopicReport, TopicTask
from enrichment.windows import day_window, require_aware
from orchestration.errors import UserError
from orchestration.warehouse import redact_dsn

TASKS = ("sentiment", "summaries", "topics")
REQUIRED_MARTS = ("posts", "post_versions")


@dataclass
class EnrichmentReport:
    """What a run did, per task (None for a task that was not run), and which provider each task used."""

    sentiment: SentimentReport | None = None
    summaries: SummaryReport | None = None
    topics: TopicReport | None = None
    providers: dict[str, str] = field(default_factory=dict)
    offline_note: str | None = None
    elapsed_seconds: float = 0.0

    @property
    def failures(self) -> int:
        """Items that failed in this run (they are recorded and will be retried)."""
        return sum(r.failed for r in (self.sentiment, self.summaries, self.topics) if r is not None)

    @property
    def lines(self) -> list[str]:
        return [r.line for r in (self.sentiment, self.summaries, self.topics) if r is not None]


def _connect(dsn: str) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(dsn, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or ["connection refused"])[0]
        raise UserError(f"Cannot connect to the warehouse at {redact_dsn(dsn)}: {reason}") from exc


def _check_marts(conn: psycopg2.extensions.connection) -> None:
    with conn, conn.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts' "
                    "and table_name = any(%s)", (list(REQUIRED_MARTS),))
        present = {row[0] for row in cur.fetchall()}
    missing = [name for name in REQUIRED_MARTS if name not in present]
    if missing:
        raise UserError(f"The mart marts.{missing[0]} does not exist yet: build the marts with dbt "
                        "(dbt build) before running enrichment.")


def _describe(provider: object | None) -> str:
    if provider is None:
        return "-"
    return f"{provider.name} ({provider.model}, {provider.prompt_version})"  # type: ignore[attr-defined]


def run_enrichment(dsn: str, settings: EnrichmentSettings, *, say: Callable[[str], None],
                   tasks: Iterable[str] = TASKS, force: bool = False, day: date | None = None,
                   now: datetime | None = None) -> EnrichmentReport:
    """Run the requested enrichment tasks once against the warehouse at ``dsn``.

    ``force`` retries failed sentiment rows immediately (even those that used up their attempts) and
    regenerates the latest complete day and hour before ``now`` even when they succeeded. ``day`` (a calendar
    day in ``enrichment.summaries.time_zone``) limits summaries and topics to that day; with ``force`` its
    summary and all its hours are regenerated. ``now`` (aware; default: the current time) decides which
    windows are complete and when failures are due.
    """
    requested = list(tasks)
    unknown = [task for task in requested if task not in TASKS]
    if unknown:
        raise UserError(f"Unknown enrichment task {unknown[0]!r} (tasks: {', '.join(TASKS)}).", exit_code=2)
    selected = [task for task in TASKS if task in requested]
    moment = require_aware(now, "now") if now is not None else datetime.now(UTC)
    started = time.monotonic()
    providers = build_providers(settings, selected)
    report = EnrichmentReport(offline_note=providers.offline_note)
    if providers.offline_note:
        say(providers.offline_note)
    read_conn = _connect(dsn)
    write_conn = _connect(dsn)
    try:
        ensure_schema(write_conn)
        _check_marts(write_conn)
        if providers.sentiment is not None:
            report.providers["sentiment"] = _describe(providers.sentiment)
            task = SentimentTask(settings.sentiment, providers.sentiment, providers.sentiment_other_languages)
            report.sentiment = task.run(read_conn, write_conn, now=moment, force=force, say=say)
            say(report.sentiment.line)
        if providers.summaries is not None:
            report.providers["summaries"] = _describe(providers.summaries)
            report.summaries = SummaryTask(settings.summaries, providers.summaries).run(
                write_conn, now=moment, force=force, say=say, only_day=day)
            say(report.summaries.line)
        if providers.topics is not None:
            report.providers["topics"] = _describe(providers.topics)
            report.topics = TopicTask(settings.topics, providers.topics).run(
                write_conn, now=moment, force=force, say=say,
                only_window=day_window(day, settings.summaries.zone) if day is not None else None)
            say(report.topics.line)
    finally:
        read_conn.close()
        write_conn.close()
    report.elapsed_seconds = time.monotonic() - started
    return report
