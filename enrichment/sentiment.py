"""The sentiment task: score every post version that needs it and write audited rows.

For each candidate version (see :mod:`enrichment.sentiment_inputs`) the task decides, without a network call,
whether the provider may read it at all (a reblog, an empty text, a language the provider does not handle:
a ``skipped`` row with the reason; with ``other_languages: llm`` the LLM provider scores such posts instead).
Then it computes ``input_hash`` over exactly what would be sent (text, language, label thresholds) with the
model and prompt version, and:

* an input whose hash already has a result (this version unchanged, or the same text elsewhere, e.g. the same
  federated post on two instances) is not sent again: the result is reused;
* everything else is sent to the provider, whose outcome is written as ``scored`` or ``failed``; a failure
  keeps its error, counts its attempts and gets a ``next_retry_at`` (exponential back-off), so it is tried
  again on schedule and is never taken for done.

Labels are derived here from the score and the configured thresholds, whatever the provider.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg2.extensions
from psycopg2.extras import execute_values

from enrichment.hashing import input_hash
from enrichment.language import UNDETERMINED_LANGUAGE, UNSUPPORTED_LANGUAGE
from enrichment.providers.base import SentimentItem, SentimentOutcome, SentimentProvider, Usage
from enrichment.retry_schedule import next_retry_at
from enrichment.sentiment_inputs import Candidate, iter_candidates
from enrichment.settings import SentimentSettings

REBLOG = "reblog"
LANGUAGE_REASONS = frozenset({UNSUPPORTED_LANGUAGE, UNDETERMINED_LANGUAGE})
DONE = ("scored", "skipped")

ROW_COLUMNS = (
    "instance_id", "post_id", "status_version_seq", "model", "prompt_version", "provider", "status",
    "sentiment_score", "sentiment_label", "language", "skip_reason", "error", "input_hash", "source_fingerprint",
    "analyzed_at", "first_attempt_at", "last_attempt_at", "attempt_count", "next_retry_at", "reused",
    "request_id", "request_post_count", "prompt_tokens", "completion_tokens",
)
# Rows are written with COPY into a temporary table, then upserted in one statement (no per-row round trip).
_STAGE = "enrichment_sentiment_rows"
_CREATE_STAGE = (f"create temp table if not exists {_STAGE} (like enrichment.post_sentiments including defaults) "
                 "on commit delete rows")
_COPY = f"copy {_STAGE} ({', '.join(ROW_COLUMNS)}) from stdin"
_UPSERT = (
    f"insert into enrichment.post_sentiments ({', '.join(ROW_COLUMNS)}) "
    f"select {', '.join(ROW_COLUMNS)} from {_STAGE} "
    "on conflict (instance_id, post_id, status_version_seq, model, prompt_version) do update set "
    + ", ".join(f"{column} = excluded.{column}" for column in ROW_COLUMNS[5:])
    + ", written_at = now()"
)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})


def _copy_value(value: object) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value).translate(_ESCAPES)


def _copy_text(rows: Sequence[tuple]) -> io.StringIO:
    return io.StringIO("".join("\t".join(_copy_value(v) for v in row) + "\n" for row in rows))


def label_for(score: float, settings: SentimentSettings) -> str:
    """``positive`` at or above the positive threshold, ``negative`` at or below the negative one."""
    if score >= settings.positive_threshold:
        return "positive"
    if score <= settings.negative_threshold:
        return "negative"
    return "neutral"


@dataclass
class SentimentReport:
    """What one sentiment run did."""

    candidates: int = 0
    sent: int = 0
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    reused: int = 0
    unchanged: int = 0
    usage: Usage = field(default_factory=Usage)
    requests: set[str] = field(default_factory=set)

    @property
    def line(self) -> str:
        text = (f"sentiment: {self.candidates} version(s) to check, {self.sent} sent, {self.scored} scored, "
                f"{self.skipped} skipped, {self.failed} failed, {self.reused + self.unchanged} already analysed")
        if self.usage.prompt_tokens or self.usage.completion_tokens:
            text += (f", {len(self.requests)} request(s), {self.usage.prompt_tokens} prompt + "
                     f"{self.usage.completion_tokens} completion tokens")
        return text


@dataclass(frozen=True)
class _Stored:
    input_hash: str
    status: str
    attempt_count: int
    first_attempt_at: datetime


class SentimentTask:
    """Runs sentiment for one (primary provider, optional other-language provider) pair."""

    def __init__(self, settings: SentimentSettings, provider: SentimentProvider,
                 other_languages: SentimentProvider | None = None) -> None:
        self.settings = settings
        self.provider = provider
        self.other_languages = other_languages

    # -- public ------------------------------------------------------------------------------------------
    def run(self, read_conn: psycopg2.extensions.connection, write_conn: psycopg2.extensions.connection, *,
            now: datetime, force: bool, say: Callable[[str], None]) -> SentimentReport:
        """Process every candidate version; returns the counts (and says one progress line per chunk)."""
        report = SentimentReport()
        primary = (self.provider.model, self.provider.prompt_version)
        passes: list[tuple[SentimentProvider, tuple[str, str] | None]] = [(self.provider, None)]
        if self.other_languages is not None:
            passes.append((self.other_languages, primary))
        for provider, skipped_by in passes:
            for chunk in iter_candidates(read_conn, model=provider.model, prompt_version=provider.prompt_version,
                                         now=now, force=force, chunk_size=self.settings.chunk_size,
                                         skipped_by=skipped_by):
                report.candidates += len(chunk)
                self._process_chunk(write_conn, chunk, now=now, report=report, retry_pass=skipped_by is not None)
                if report.candidates >= self.settings.chunk_size:
                    say(f"sentiment: {report.candidates} version(s) processed so far "
                        f"({report.scored} scored, {report.failed} failed)")
        return report

    # -- one chunk ---------------------------------------------------------------------------------------
    def _process_chunk(self, conn: psycopg2.extensions.connection, chunk: Sequence[Candidate], *, now: datetime,
                       report: SentimentReport, retry_pass: bool) -> None:
        routed: dict[int, list[tuple[Candidate, SentimentItem, str]]] = {}
        skips: list[tuple[Candidate, SentimentItem, str]] = []
        providers = {id(self.provider): self.provider}
        if self.other_languages is not None:
            providers[id(self.other_languages)] = self.other_languages
        for candidate in chunk:
            item = SentimentItem(candidate.instance_id, candidate.post_id, candidate.version_seq, candidate.text,
                                 candidate.language)
            if retry_pass:
                assert self.other_languages is not None
                routed.setdefault(id(self.other_languages), []).append((candidate, item, ""))
                continue
            reason = REBLOG if candidate.is_reblog else self.provider.skip_reason(item)
            if reason is not None:
                skips.append((candidate, item, reason))
                if reason in LANGUAGE_REASONS and self.other_languages is not None:
                    routed.setdefault(id(self.other_languages), []).append((candidate, item, reason))
                continue
            routed.setdefault(id(self.provider), []).append((candidate, item, ""))

        rows: list[tuple] = []
        fingerprint_updates: list[tuple] = []
        for candidate, item, reason in skips:
            rows.append(self._skip_row(candidate, item, reason, now))
            report.skipped += 1
        for provider_key, entries in routed.items():
            provider = providers[provider_key]
            if provider is not self.provider or retry_pass:
                entries = [(c, i, r) for c, i, r in entries if provider.skip_reason(i) is None]
            self._analyse(conn, provider, entries, now=now, report=report, rows=rows,
                          fingerprint_updates=fingerprint_updates)
        with conn, conn.cursor() as cur:
            if rows:
                cur.execute(_CREATE_STAGE)
                cur.copy_expert(_COPY, _copy_text(rows))
                cur.execute(_UPSERT)
            if fingerprint_updates:
                execute_values(cur, """
                    update enrichment.post_sentiments as s set source_fingerprint = u.fingerprint
                    from (values %s) as u (instance_id, post_id, version_seq, model, prompt_version, fingerprint)
                    where s.instance_id = u.instance_id and s.post_id = u.post_id
                      and s.status_version_seq = u.version_seq and s.model = u.model
                      and s.prompt_version = u.prompt_version""", fingerprint_updates, page_size=500)

    def _payload(self, item: SentimentItem) -> dict:
        return {"text": item.text, "language": item.language,
                "labels": {"positive_at_or_above": self.settings.positive_threshold,
                           "negative_at_or_below": self.settings.negative_threshold}}

    def _skip_row(self, candidate: Candidate, item: SentimentItem, reason: str, now: datetime) -> tuple:
        provider = self.provider
        digest = input_hash(self._payload(item), model=provider.model, prompt_version=provider.prompt_version)
        return self._row(candidate, provider, status="skipped", score=None, skip_reason=reason, error=None,
                         digest=digest, analyzed_at=now, first_attempt_at=now, last_attempt_at=now, attempts=0,
                         retry_at=None, reused=False, outcome=None)

    def _analyse(self, conn: psycopg2.extensions.connection, provider: SentimentProvider,
                 entries: list[tuple[Candidate, SentimentItem, str]], *, now: datetime, report: SentimentReport,
                 rows: list[tuple], fingerprint_updates: list[tuple]) -> None:
        if not entries:
            return
        digests = [input_hash(self._payload(item), model=provider.model, prompt_version=provider.prompt_version)
                   for _, item, _ in entries]
        cached = _cached_results(conn, set(digests))
        to_send: list[tuple[Candidate, SentimentItem, str, _Stored | None]] = []
        for (candidate, item, _), digest in zip(entries, digests, strict=True):
            own = _stored(candidate)
            if own is not None and own.input_hash == digest and own.status in DONE:
                fingerprint_updates.append((candidate.instance_id, candidate.post_id, candidate.version_seq,
                                            provider.model, provider.prompt_version, candidate.fingerprint))
                report.unchanged += 1
                continue
            if digest in cached:
                status, score, reason = cached[digest]
                rows.append(self._row(candidate, provider, status=status, score=score, skip_reason=reason,
                                      error=None, digest=digest, analyzed_at=now, first_attempt_at=now,
                                      last_attempt_at=now, attempts=0, retry_at=None, reused=True, outcome=None))
                report.reused += 1
                continue
            to_send.append((candidate, item, digest, own))
        if not to_send:
            return
        # identical inputs within the chunk are sent once
        unique: dict[str, SentimentItem] = {}
        for _, item, digest, _ in to_send:
            unique.setdefault(digest, item)
        by_digest = dict(zip(unique, provider.score(list(unique.values())), strict=True))
        report.sent += len(unique)
        first_of: dict[str, Candidate] = {}
        for candidate, _, digest, own in to_send:
            outcome = by_digest[digest]
            duplicate = first_of.setdefault(digest, candidate) is not candidate
            previous_attempts = own.attempt_count if own is not None and own.input_hash == digest else 0
            first_attempt = own.first_attempt_at if own is not None and own.input_hash == digest else now
            attempts = previous_attempts + 1
            if outcome.request_id:
                if outcome.request_id not in report.requests:
                    report.usage = report.usage + outcome.usage
                report.requests.add(outcome.request_id)
            if outcome.error is None and outcome.score is not None:
                rows.append(self._row(candidate, provider, status="scored", score=outcome.score, skip_reason=None,
                                      error=None, digest=digest, analyzed_at=now, first_attempt_at=first_attempt,
                                      last_attempt_at=now, attempts=attempts, retry_at=None, reused=duplicate,
                                      outcome=outcome))
                if duplicate:
                    report.reused += 1
                else:
                    report.scored += 1
            else:
                retry_at = next_retry_at(now, attempts, initial_minutes=self.settings.retry_initial_minutes,
                                         max_minutes=self.settings.retry_max_minutes,
                                         max_attempts=self.settings.max_attempts)
                rows.append(self._row(candidate, provider, status="failed", score=None, skip_reason=None,
                                      error=(outcome.error or "the provider returned no score")[:2000], digest=digest,
                                      analyzed_at=None, first_attempt_at=first_attempt, last_attempt_at=now,
                                      attempts=attempts, retry_at=retry_at, reused=False, outcome=outcome))
                report.failed += 1

    def _row(self, candidate: Candidate, provider: SentimentProvider, *, status: str, score: float | None,
             skip_reason: str | None, error: str | None, digest: str, analyzed_at: datetime | None,
             first_attempt_at: datetime, last_attempt_at: datetime, attempts: int, retry_at: datetime | None,
             reused: bool, outcome: SentimentOutcome | None) -> tuple:
        label = label_for(score, self.settings) if score is not None else None
        usage = outcome.usage if outcome is not None else Usage()
        return (candidate.instance_id, candidate.post_id, candidate.version_seq, provider.model,
                provider.prompt_version, provider.name, status, score, label, candidate.language, skip_reason,
                error, digest, candidate.fingerprint, analyzed_at, first_attempt_at, last_attempt_at, attempts,
                retry_at, reused, outcome.request_id if outcome else None,
                outcome.request_post_count if outcome else None, usage.prompt_tokens, usage.completion_tokens)


def _stored(candidate: Candidate) -> _Stored | None:
    """What is stored for the candidate under the provider's model and prompt version (read with it)."""
    if candidate.stored_input_hash is None:
        return None
    return _Stored(candidate.stored_input_hash, candidate.stored_status or "", candidate.stored_attempt_count or 0,
                   candidate.stored_first_attempt_at)


def _cached_results(conn: psycopg2.extensions.connection,
                    digests: set[str]) -> dict[str, tuple[str, float | None, str | None]]:
    """Finished results by input hash (the same input analysed before, for any post version)."""
    if not digests:
        return {}
    with conn, conn.cursor() as cur:
        cur.execute("""
            select distinct on (input_hash) input_hash, status, sentiment_score, skip_reason
            from enrichment.post_sentiments
            where input_hash = any(%s) and status in ('scored', 'skipped')
            order by input_hash, analyzed_at desc nulls last""", (list(digests),))
        return {row[0]: (row[1], row[2], row[3]) for row in cur.fetchall()}
