"""The provider interface: what every sentiment, summary and topic provider receives and returns.

Providers compute; they never touch the database. The tasks (``enrichment.sentiment``, ``.summaries``,
``.topics``) read marts, build these inputs, hash them, call a provider, validate what comes back against
the inputs and write audited rows. Each provider states the ``model`` and ``prompt_version`` that go into
the audit columns and into ``input_hash``, so a change of either means the input is analysed afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ProviderError(Exception):
    """A provider could not produce a valid result (after its own retries); recorded as the row's ``error``."""


@dataclass(frozen=True)
class Usage:
    """Tokens one request used (zero for offline providers)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


# -- sentiment --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SentimentItem:
    """One post version to score: its key, the text exactly as the provider will read it, its language."""

    instance_id: str
    post_id: str
    version_seq: int
    text: str
    language: str | None


@dataclass(frozen=True)
class SentimentOutcome:
    """The result for one item: a score in [-1, 1], or an error. ``request_id`` and ``usage`` describe the
    request that carried the item (shared by every item of a batch; ``request_post_count`` items)."""

    score: float | None = None
    error: str | None = None
    request_id: str | None = None
    request_post_count: int | None = None
    usage: Usage = field(default_factory=Usage)


class SentimentProvider(Protocol):
    name: str
    model: str
    prompt_version: str

    def skip_reason(self, item: SentimentItem) -> str | None:
        """Why this provider must not score ``item`` (e.g. its language), or None."""

    def score(self, items: Sequence[SentimentItem]) -> list[SentimentOutcome]:
        """One outcome per item, in order; never raises for a single bad item."""


# -- daily summaries --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PostText:
    """A post as shown to a summary or topic provider."""

    post_id: str
    text: str
    author: str | None = None
    hashtags: tuple[str, ...] = ()
    language: str | None = None
    engagement: float = 0.0
    sentiment_score: float | None = None


@dataclass(frozen=True)
class DayInput:
    """Everything a summary provider sees for one instance and day: the computed statistics (the only
    source of numbers in a summary) and the texts of the day's top posts.

    ``placeholders`` maps placeholder names (``post_count``) to the formatted statistic an LLM's
    ``{post_count}`` is replaced with; ``allowed_numbers`` are the number tokens a summary may contain
    (see :mod:`enrichment.grounding`).
    """

    instance_id: str
    window_start: datetime
    window_end: datetime
    day_label: str
    time_zone: str
    stats: Mapping[str, Any]
    posts: tuple[PostText, ...]
    placeholders: Mapping[str, str] = field(default_factory=dict)
    allowed_numbers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SummaryOutcome:
    summary_text: str
    trending_topics: list[str]
    notable_events: list[str]
    usage: Usage = field(default_factory=Usage)


class SummaryProvider(Protocol):
    name: str
    model: str
    prompt_version: str

    def summarise(self, day: DayInput) -> SummaryOutcome:
        """A summary of the day; raises :class:`ProviderError` when none could be produced."""


# -- hourly topics ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HourInput:
    """The posts of one instance and hour that a topic provider sees."""

    instance_id: str
    hour_start: datetime
    hour_end: datetime
    posts: tuple[PostText, ...]


@dataclass(frozen=True)
class ProposedTopic:
    """A topic as a provider proposes it; its post ids are checked against the hour's posts by the task."""

    topic: str
    summary: str
    post_ids: tuple[str, ...]


@dataclass(frozen=True)
class TopicsOutcome:
    topics: list[ProposedTopic]
    usage: Usage = field(default_factory=Usage)


class TopicProvider(Protocol):
    name: str
    model: str
    prompt_version: str

    def find_topics(self, hour: HourInput, *, max_topics: int) -> TopicsOutcome:
        """Topics of the hour; raises :class:`ProviderError` when none could be produced."""
