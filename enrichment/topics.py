"""The hourly topics task: topics per instance and UTC hour, checked against the posts that exist.

Hours are UTC hours that contain posts and ended at least ``settle_minutes`` ago. An hour is analysed when it
has no successful run for the provider's (model, prompt version), so a failed hour is tried again on the
next cycle; with ``force`` the latest complete hour of each instance is analysed again. The provider sees
the hour's ``top_posts`` most engaging posts (not deleted, not reblogs).

A provider only proposes topics. Here each topic's post ids are checked against the posts it was given
(unknown ids are dropped and noted in ``hourly_topic_runs.validation_notes``; a topic left without posts, a
duplicate topic or a summary with a number that is not in the inputs is dropped too), and its post count,
average sentiment (of the scored current versions) and sample post ids (most engaging first) are computed
from those posts, never taken from the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import psycopg2.extensions
from psycopg2.extras import Json, execute_values

from enrichment.day_stats import CURRENT_SENTIMENT_SQL
from enrichment.grounding import allowed_numbers, ungrounded_numbers
from enrichment.hashing import input_hash
from enrichment.providers.base import HourInput, PostText, ProposedTopic, ProviderError, TopicProvider, Usage
from enrichment.settings import TopicSettings
from enrichment.windows import Window, hour_window

HOUR_POSTS_SQL = """
    with hour_posts as (
        select p.*
        from marts.posts as p
        where p.instance_id = %(instance_id)s and p.created_at >= %(start)s and p.created_at < %(end)s
          and p.deleted_at is null and not p.is_reblog
        order by p.engagement_score desc, p.created_at, p.post_id
        limit %(limit)s
    ),
    sentiment as (""" + CURRENT_SENTIMENT_SQL.format(posts="hour_posts") + """)
    select p.post_id, concat_ws(E'\n\n', nullif(p.spoiler_text, ''), p.content_text),
           case when exists (select 1 from raw.account_consent as author where author.instance_id = p.instance_id
                             and author.account_id = p.account_id and author.consent_status = 'opted_out')
                then null else p.account_acct end,
           p.hashtags, p.language, p.engagement_score, s.sentiment_score
    from hour_posts as p
    left join sentiment as s on s.post_id = p.post_id and s.status = 'scored'
    order by p.engagement_score desc, p.created_at, p.post_id
"""


@dataclass(frozen=True)
class CheckedTopic:
    """A topic as stored: every number computed from the hour's posts."""

    topic: str
    summary: str
    post_ids: list[str]
    sample_post_ids: list[str]
    average_sentiment: float | None

    @property
    def post_count(self) -> int:
        return len(self.post_ids)


@dataclass
class TopicReport:
    """What one topics run did."""

    hours: int = 0
    failed: int = 0
    up_to_date: int = 0
    topics: int = 0
    usage: Usage = field(default_factory=Usage)
    failures: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        text = (f"hourly topics: {self.hours} hour(s) analysed ({self.topics} topics), {self.failed} failed, "
                f"{self.up_to_date} already done")
        if self.failures:
            text += f" (first failure: {self.failures[0]})"
        return text


def check_topics(proposed: list[ProposedTopic], posts: tuple[PostText, ...], *, max_topics: int,
                 sample_size: int) -> tuple[list[CheckedTopic], list[str]]:
    """Validate proposed topics against the hour's posts; returns the kept topics and notes on what was dropped."""
    by_id = {post.post_id: post for post in posts}
    order = {post.post_id: index for index, post in enumerate(posts)}
    texts = [p.text for p in posts] + [" ".join(p.hashtags) for p in posts]
    kept: list[CheckedTopic] = []
    notes: list[str] = []
    seen_labels: set[str] = set()
    for topic in proposed:
        label = " ".join(topic.topic.split())[:100]
        unknown = [pid for pid in topic.post_ids if pid not in by_id]
        if unknown:
            notes.append(f"topic {label!r}: {len(unknown)} unknown post id(s) dropped: {', '.join(unknown[:5])}")
        ids = sorted({pid for pid in topic.post_ids if pid in by_id}, key=order.__getitem__)
        if not ids:
            notes.append(f"topic {label!r}: dropped, none of its post ids is a post of the hour")
            continue
        if label.lower() in seen_labels:
            notes.append(f"topic {label!r}: dropped, duplicate")
            continue
        summary = " ".join(topic.summary.split())
        bad = ungrounded_numbers(f"{label} {summary}", allowed_numbers({"count": len(ids)}, texts))
        if bad:
            notes.append(f"topic {label!r}: dropped, its summary has the number {bad[0]} that is not in the posts")
            continue
        if len(kept) == max_topics:
            notes.append(f"topic {label!r}: dropped, more than {max_topics} topics")
            continue
        seen_labels.add(label.lower())
        scores = [by_id[pid].sentiment_score for pid in ids if by_id[pid].sentiment_score is not None]
        average = round(sum(scores) / len(scores), 4) if scores else None
        kept.append(CheckedTopic(label, summary, ids, ids[:sample_size], average))
    return kept, notes


# A failed forced re-run of an hour that succeeded before keeps the earlier result (and notes the error).
_KEEP_SUCCESS = ",\n".join(
    f"{column} = case when excluded.status = 'failed' and enrichment.hourly_topic_runs.status = 'ok' "
    f"then enrichment.hourly_topic_runs.{column} else excluded.{column} end"
    for column in ("status", "provider", "input_post_count", "topic_count", "validation_notes", "input_hash",
                   "analyzed_at")
)


class TopicTask:
    """Runs the hourly topics with one provider."""

    def __init__(self, settings: TopicSettings, provider: TopicProvider) -> None:
        self.settings = settings
        self.provider = provider

    def run(self, conn: psycopg2.extensions.connection, *, now: datetime, force: bool,
            say: Callable[[str], None], only_window: Window | None = None) -> TopicReport:
        """Analyse every complete hour that needs it. ``only_window`` limits the run to the hours starting in
        it (with ``force``: every one of them analysed again, even when it succeeded)."""
        report = TopicReport()
        settle = timedelta(minutes=self.settings.settle_minutes)
        latest_complete = hour_window(now - settle).start - timedelta(hours=1)
        done = self._successful_hours(conn)
        for instance_id, hour_start in self._hours_with_posts(conn):
            window = hour_window(hour_start)
            if window.end + settle > now:
                continue
            if only_window is not None and not only_window.start <= window.start < only_window.end:
                continue
            forced = force and (only_window is not None or window.start == latest_complete)
            if (instance_id, window.start) in done and not forced:
                report.up_to_date += 1
                continue
            self._analyse(conn, instance_id, window, now=now, report=report)
            if report.hours and report.hours % 100 == 0:
                say(f"hourly topics: {report.hours} hour(s) analysed so far")
        return report

    def _hours_with_posts(self, conn: psycopg2.extensions.connection) -> list[tuple[str, datetime]]:
        with conn, conn.cursor() as cur:
            cur.execute("""
                select instance_id, date_trunc('hour', created_at, 'UTC') as hour_start
                from marts.posts
                where deleted_at is null and not is_reblog and created_at is not null
                group by 1, 2 order by 2, 1""")
            return cur.fetchall()

    def _successful_hours(self, conn: psycopg2.extensions.connection) -> set[tuple[str, datetime]]:
        with conn, conn.cursor() as cur:
            cur.execute("""
                select instance_id, hour_start from enrichment.hourly_topic_runs
                where model = %s and prompt_version = %s and status = 'ok'""",
                        (self.provider.model, self.provider.prompt_version))
            return {(row[0], row[1]) for row in cur.fetchall()}

    def _hour_input(self, conn: psycopg2.extensions.connection, instance_id: str, window: Window) -> HourInput:
        with conn, conn.cursor() as cur:
            cur.execute(HOUR_POSTS_SQL, {"instance_id": instance_id, "start": window.start, "end": window.end,
                                         "limit": self.settings.top_posts})
            posts = tuple(PostText(post_id=r[0], text=(r[1] or "")[: self.settings.max_post_chars], author=r[2],
                                   hashtags=tuple(r[3] or ()), language=r[4], engagement=float(r[5]),
                                   sentiment_score=r[6]) for r in cur.fetchall())
        return HourInput(instance_id=instance_id, hour_start=window.start, hour_end=window.end, posts=posts)

    def _analyse(self, conn: psycopg2.extensions.connection, instance_id: str, window: Window, *, now: datetime,
                 report: TopicReport) -> None:
        hour = self._hour_input(conn, instance_id, window)
        # sentiment scores are not shown to providers; they only feed the averages computed here
        digest = input_hash([asdict(p) | {"sentiment_score": None} for p in hour.posts],
                            model=self.provider.model, prompt_version=self.provider.prompt_version)
        try:
            outcome = self.provider.find_topics(hour, max_topics=self.settings.max_topics)
        except ProviderError as exc:
            usage = getattr(exc, "usage", Usage())
            report.failed += 1
            report.usage = report.usage + usage
            report.failures.append(f"{instance_id} {window.label}: {exc}")
            self._write(conn, instance_id, window, hour, digest, now, usage, topics=None, notes=[], error=str(exc))
            return
        topics, notes = check_topics(outcome.topics, hour.posts, max_topics=self.settings.max_topics,
                                     sample_size=self.settings.sample_size)
        report.hours += 1
        report.topics += len(topics)
        report.usage = report.usage + outcome.usage
        self._write(conn, instance_id, window, hour, digest, now, outcome.usage, topics=topics, notes=notes,
                    error=None)

    def _write(self, conn: psycopg2.extensions.connection, instance_id: str, window: Window, hour: HourInput,
               digest: str, now: datetime, usage: Usage, *, topics: list[CheckedTopic] | None, notes: list[str],
               error: str | None) -> None:
        """Record the run; on success replace the hour's topics. A failed forced re-run keeps earlier topics."""
        model, version = self.provider.model, self.provider.prompt_version
        status = "failed" if topics is None else "ok"
        with conn, conn.cursor() as cur:
            cur.execute("""
                insert into enrichment.hourly_topic_runs (instance_id, hour_start, hour_end, model, prompt_version,
                    provider, status, input_post_count, topic_count, validation_notes, input_hash, error,
                    analyzed_at, last_attempt_at, attempt_count, prompt_tokens, completion_tokens)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s)
                on conflict (instance_id, hour_start, model, prompt_version) do update set
                    """ + _KEEP_SUCCESS + """,
                    error = excluded.error, last_attempt_at = excluded.last_attempt_at,
                    attempt_count = enrichment.hourly_topic_runs.attempt_count + 1,
                    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens""",
                        (instance_id, window.start, window.end, model, version, self.provider.name, status,
                         len(hour.posts), len(topics) if topics is not None else 0, Json(notes), digest,
                         error[:2000] if error else None, now if topics is not None else None, now,
                         usage.prompt_tokens, usage.completion_tokens))
            if topics is None:
                return
            cur.execute("""
                delete from enrichment.hourly_topics
                where instance_id = %s and hour_start = %s and model = %s and prompt_version = %s""",
                        (instance_id, window.start, model, version))
            if topics:
                execute_values(cur, """
                    insert into enrichment.hourly_topics (instance_id, hour_start, model, prompt_version, topic_rank,
                        topic, summary, post_count, average_sentiment, sample_post_ids, post_ids, input_hash,
                        analyzed_at) values %s""",
                               [(instance_id, window.start, model, version, rank, t.topic, t.summary, t.post_count,
                                 t.average_sentiment, Json(t.sample_post_ids), Json(t.post_ids), digest, now)
                                for rank, t in enumerate(topics, start=1)])

