"""The daily summary task: one summary per instance and calendar day, audited and retried.

Days are local calendar days in the configured time zone that contain posts and ended at least
``settle_minutes`` ago. A day is summarised when it has no successful summary for the provider's (model,
prompt version), which includes a day whose last attempt failed: it is tried again on every cycle. With
``force`` the latest complete day of each instance (the day before ``now``) is regenerated even when it
succeeded; to regenerate an older day, pass a ``now`` just after it.

The row keeps ``input_stats_json`` (the statistics) and ``input_hash`` over everything the provider saw,
post texts included. Whatever the provider returns is checked once more here: a summary containing a number
that is not in the statistics or the inputs is refused (the day is recorded as failed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import psycopg2.extensions
from psycopg2.extras import Json

from enrichment.day_stats import compute_day_stats, grounded_numbers, placeholder_values
from enrichment.grounding import ungrounded_numbers
from enrichment.hashing import input_hash
from enrichment.providers.base import DayInput, ProviderError, SummaryOutcome, SummaryProvider, Usage
from enrichment.settings import SummarySettings
from enrichment.windows import Window, day_window, local_day


@dataclass
class SummaryReport:
    """What one summary run did."""

    generated: int = 0
    failed: int = 0
    up_to_date: int = 0
    usage: Usage = field(default_factory=Usage)
    failures: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        text = (f"daily summaries: {self.generated} generated, {self.failed} failed, "
                f"{self.up_to_date} already done")
        if self.failures:
            text += f" (first failure: {self.failures[0]})"
        return text


class SummaryTask:
    """Runs the daily summaries with one provider."""

    def __init__(self, settings: SummarySettings, provider: SummaryProvider) -> None:
        self.settings = settings
        self.provider = provider

    def run(self, conn: psycopg2.extensions.connection, *, now: datetime, force: bool,
            say: Callable[[str], None], only_day: date | None = None) -> SummaryReport:
        """Summarise every complete day that needs it. ``only_day`` limits the run to that local day (with
        ``force``: regenerated for every instance even when it succeeded)."""
        report = SummaryReport()
        zone = self.settings.zone
        settle = timedelta(minutes=self.settings.settle_minutes)
        latest_complete = only_day or local_day(now - settle, zone) - timedelta(days=1)
        done = self._successful_windows(conn)
        for instance_id, day in self._days_with_posts(conn):
            if only_day is not None and day != only_day:
                continue
            window = day_window(day, zone)
            if window.end + settle > now:
                continue
            forced = force and day == latest_complete
            if (instance_id, window.start) in done and not forced:
                report.up_to_date += 1
                continue
            self._summarise(conn, instance_id, window, now=now, report=report)
        return report

    # -- reading ---------------------------------------------------------------------------------------------
    def _days_with_posts(self, conn: psycopg2.extensions.connection) -> list[tuple[str, date]]:
        with conn, conn.cursor() as cur:
            cur.execute("""
                select instance_id, (created_at at time zone %s)::date as day
                from marts.posts
                where deleted_at is null and not is_reblog and created_at is not null
                group by 1, 2 order by 2, 1""", (self.settings.time_zone,))
            return cur.fetchall()

    def _successful_windows(self, conn: psycopg2.extensions.connection) -> set[tuple[str, datetime]]:
        with conn, conn.cursor() as cur:
            cur.execute("""
                select instance_id, window_start from enrichment.daily_summaries
                where model = %s and prompt_version = %s and status = 'ok' and time_zone = %s""",
                        (self.provider.model, self.provider.prompt_version, self.settings.time_zone))
            return {(row[0], row[1]) for row in cur.fetchall()}

    # -- one day ---------------------------------------------------------------------------------------------
    def _summarise(self, conn: psycopg2.extensions.connection, instance_id: str, window: Window, *,
                   now: datetime, report: SummaryReport) -> None:
        settings = self.settings
        stats, posts = compute_day_stats(conn, instance_id, window, time_zone=settings.time_zone,
                                         top_posts=settings.top_posts, top_hashtags=settings.top_hashtags,
                                         max_post_chars=settings.max_post_chars)
        day = DayInput(instance_id=instance_id, window_start=window.start, window_end=window.end,
                       day_label=window.label, time_zone=settings.time_zone, stats=stats, posts=posts,
                       placeholders=placeholder_values(stats), allowed_numbers=grounded_numbers(stats, posts))
        digest = input_hash({"stats": stats, "posts": [asdict(p) for p in posts]}, model=self.provider.model,
                            prompt_version=self.provider.prompt_version)
        try:
            outcome = self.provider.summarise(day)
            _check_grounded(outcome, day)
        except ProviderError as exc:
            usage = getattr(exc, "usage", Usage())
            report.failed += 1
            report.failures.append(f"{instance_id} {window.label}: {exc}")
            report.usage = report.usage + usage
            self._write_failure(conn, instance_id, window, stats, digest, str(exc), now, usage)
            return
        report.generated += 1
        report.usage = report.usage + outcome.usage
        self._write_success(conn, instance_id, window, stats, digest, outcome, now)

    def _write_success(self, conn: psycopg2.extensions.connection, instance_id: str, window: Window,
                       stats: dict, digest: str, outcome: SummaryOutcome, now: datetime) -> None:
        with conn, conn.cursor() as cur:
            cur.execute("""
                insert into enrichment.daily_summaries (instance_id, summary_date, time_zone, window_start,
                    window_end, model, prompt_version, provider, status, input_stats_json, input_hash,
                    summary_text, trending_topics, notable_events, error, analyzed_at, last_attempt_at,
                    attempt_count, prompt_tokens, completion_tokens)
                values (%s, %s, %s, %s, %s, %s, %s, %s, 'ok', %s, %s, %s, %s, %s, null, %s, %s, 1, %s, %s)
                on conflict (instance_id, window_start, model, prompt_version) do update set
                    summary_date = excluded.summary_date, time_zone = excluded.time_zone,
                    window_end = excluded.window_end, provider = excluded.provider, status = 'ok',
                    input_stats_json = excluded.input_stats_json, input_hash = excluded.input_hash,
                    summary_text = excluded.summary_text, trending_topics = excluded.trending_topics,
                    notable_events = excluded.notable_events, error = null, analyzed_at = excluded.analyzed_at,
                    last_attempt_at = excluded.last_attempt_at,
                    attempt_count = enrichment.daily_summaries.attempt_count + 1,
                    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens""",
                        (instance_id, window.day, self.settings.time_zone, window.start, window.end,
                         self.provider.model, self.provider.prompt_version, self.provider.name, Json(stats), digest,
                         outcome.summary_text, Json(outcome.trending_topics), Json(outcome.notable_events), now, now,
                         outcome.usage.prompt_tokens, outcome.usage.completion_tokens))

    def _write_failure(self, conn: psycopg2.extensions.connection, instance_id: str, window: Window, stats: dict,
                       digest: str, error: str, now: datetime, usage: Usage) -> None:
        """Record the failure; an earlier successful summary of the day (a forced regeneration that failed)
        keeps its text, with the error noted."""
        with conn, conn.cursor() as cur:
            cur.execute("""
                insert into enrichment.daily_summaries (instance_id, summary_date, time_zone, window_start,
                    window_end, model, prompt_version, provider, status, input_stats_json, input_hash, error,
                    last_attempt_at, attempt_count, prompt_tokens, completion_tokens)
                values (%s, %s, %s, %s, %s, %s, %s, %s, 'failed', %s, %s, %s, %s, 1, %s, %s)
                on conflict (instance_id, window_start, model, prompt_version) do update set
                    error = excluded.error, last_attempt_at = excluded.last_attempt_at,
                    attempt_count = enrichment.daily_summaries.attempt_count + 1,
                    prompt_tokens = enrichment.daily_summaries.prompt_tokens + excluded.prompt_tokens,
                    completion_tokens = enrichment.daily_summaries.completion_tokens + excluded.completion_tokens,
                    input_stats_json = case when enrichment.daily_summaries.status = 'ok'
                        then enrichment.daily_summaries.input_stats_json else excluded.input_stats_json end,
                    input_hash = case when enrichment.daily_summaries.status = 'ok'
                        then enrichment.daily_summaries.input_hash else excluded.input_hash end""",
                        (instance_id, window.day, self.settings.time_zone, window.start, window.end,
                         self.provider.model, self.provider.prompt_version, self.provider.name, Json(stats), digest,
                         error[:2000], now, usage.prompt_tokens, usage.completion_tokens))


def _check_grounded(outcome: SummaryOutcome, day: DayInput) -> None:
    allowed = set(day.allowed_numbers)
    for text in [outcome.summary_text, *outcome.trending_topics, *outcome.notable_events]:
        bad = ungrounded_numbers(text, allowed)
        if bad:
            raise ProviderError(f"the summary contains the number {bad[0]}, which is not in the day's statistics")
    if not outcome.summary_text.strip():
        raise ProviderError("the summary is empty")
