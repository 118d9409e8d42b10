"""A few printable lines about what enrichment produced: the sentiment distribution and the day's summary.

``enrichment_report(conn)`` is what ``make demo`` prints after an enrichment run. Per instance it gives the
sentiment labels of the current post versions (with skips by reason and failures), and the newest stored
daily summary; when no day of an instance has ended yet (a short demo), it writes the summary of the day so
far with the offline provider, marked as provisional and not stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2.extensions

from enrichment.day_stats import compute_day_stats, grounded_numbers, placeholder_values
from enrichment.providers.base import DayInput
from enrichment.providers.extractive_summary import ExtractiveSummary
from enrichment.settings import SummarySettings
from enrichment.windows import day_window, local_day

DISTRIBUTION_SQL = """
    select v.instance_id,
           count(*) filter (where s.sentiment_label = 'positive'),
           count(*) filter (where s.sentiment_label = 'neutral'),
           count(*) filter (where s.sentiment_label = 'negative'),
           count(*) filter (where s.status = 'skipped'),
           count(*) filter (where s.status = 'failed'),
           count(*) filter (where s.status is null),
           avg(s.sentiment_score)
    from marts.post_versions as v
    left join lateral (
        select r.status, r.sentiment_label, r.sentiment_score
        from enrichment.post_sentiments as r
        where r.instance_id = v.instance_id and r.post_id = v.post_id and r.status_version_seq = v.version_seq
        order by case r.status when 'scored' then 0 when 'skipped' then 1 else 2 end, r.analyzed_at desc nulls last
        limit 1
    ) as s on true
    where v.is_current and not v.is_post_deleted
    group by v.instance_id
    order by v.instance_id
"""

SKIPS_SQL = """
    select s.instance_id, s.skip_reason, count(*)
    from enrichment.post_sentiments as s
    inner join marts.post_versions as v
        on v.instance_id = s.instance_id and v.post_id = s.post_id and v.version_seq = s.status_version_seq
    where v.is_current and not v.is_post_deleted and s.status = 'skipped'
    group by 1, 2 order by 1, 3 desc, 2
"""

LATEST_SUMMARY_SQL = """
    select distinct on (instance_id) instance_id, summary_date, time_zone, summary_text, model
    from enrichment.daily_summaries
    where status = 'ok'
    order by instance_id, window_start desc, analyzed_at desc
"""


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def enrichment_report(conn: psycopg2.extensions.connection, *, now: datetime | None = None,
                      summaries: SummarySettings | None = None) -> list[str]:
    """Lines describing the sentiment distribution and the day's summary of every instance (it only reads:
    ``Warehouse.bootstrap`` created the enrichment tables)."""
    settings = summaries or SummarySettings()
    moment = now or datetime.now(UTC)
    with conn, conn.cursor() as cur:
        cur.execute(DISTRIBUTION_SQL)
        distribution = cur.fetchall()
        cur.execute(SKIPS_SQL)
        skips: dict[str, list[str]] = {}
        for instance_id, reason, count in cur.fetchall():
            skips.setdefault(instance_id, []).append(f"{reason} {count}")
        cur.execute(LATEST_SUMMARY_SQL)
        latest = {row[0]: row[1:] for row in cur.fetchall()}
    lines: list[str] = []
    if not distribution:
        return ["enrichment: no posts in marts yet"]
    for instance_id, positive, neutral, negative, skipped, failed, pending, average in distribution:
        scored = positive + neutral + negative
        text = (f"{instance_id} sentiment: {scored} scored — positive {positive} ({_percent(positive, scored)}), "
                f"neutral {neutral} ({_percent(neutral, scored)}), negative {negative} "
                f"({_percent(negative, scored)})")
        if average is not None:
            text += f", average {average:+.2f}"
        if skipped:
            text += f"; {skipped} skipped ({', '.join(skips.get(instance_id, []))})"
        if failed:
            text += f"; {failed} failed (retried on schedule)"
        if pending:
            text += f"; {pending} not analysed yet"
        lines.append(text)
        if instance_id in latest:
            day, zone, summary, model = latest[instance_id]
            lines.append(f"{instance_id} summary of {day} ({zone}, {model}): {summary}")
        else:
            lines.append(_provisional_summary(conn, instance_id, moment, settings))
    return lines


def _provisional_summary(conn: psycopg2.extensions.connection, instance_id: str, now: datetime,
                         settings: SummarySettings) -> str:
    window = day_window(local_day(now, settings.zone), settings.zone)
    stats, posts = compute_day_stats(conn, instance_id, window, time_zone=settings.time_zone,
                                     top_posts=settings.top_posts, top_hashtags=settings.top_hashtags,
                                     max_post_chars=settings.max_post_chars)
    if not stats["post_count"]:
        return f"{instance_id} summary: no complete day yet and no post today"
    day = DayInput(instance_id=instance_id, window_start=window.start, window_end=window.end,
                   day_label=window.label, time_zone=settings.time_zone, stats=stats, posts=posts,
                   placeholders=placeholder_values(stats), allowed_numbers=grounded_numbers(stats, posts))
    outcome = ExtractiveSummary().summarise(day)
    return f"{instance_id} summary of {window.label} so far (provisional, not stored): {outcome.summary_text}"
