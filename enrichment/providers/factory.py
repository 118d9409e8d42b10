"""Choosing the provider of each task from the settings (and the environment, for the LLM key).

``provider: auto`` means the LLM endpoint when one is configured and usable (its key variable is set, or it
is a key-less local server), else the offline provider; ``offline`` and ``llm`` are explicit. An explicit
``llm`` without a usable key is a configuration error, reported in one sentence. All LLM-backed providers of
a run share one :class:`ChatClient`, so ``max_concurrency`` bounds the run's requests as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from enrichment.providers.base import SentimentProvider, SummaryProvider, TopicProvider
from enrichment.providers.cooccurrence_topics import CooccurrenceTopics
from enrichment.providers.extractive_summary import ExtractiveSummary
from enrichment.providers.openai_compatible import ChatClient, LlmSentiment, LlmSummary, LlmTopics
from enrichment.providers.vader import VaderSentiment
from enrichment.settings import EnrichmentSettings, LlmSettings
from orchestration.errors import ConfigError

OFFLINE_DESCRIPTION = "VADER sentiment, extractive daily summaries, co-occurrence topics"


@dataclass(frozen=True)
class ProviderSet:
    """The providers of one run (None for tasks not run) and the line that explains an offline fallback."""

    sentiment: SentimentProvider | None
    sentiment_other_languages: SentimentProvider | None
    summaries: SummaryProvider | None
    topics: TopicProvider | None
    offline_note: str | None


def _missing_key_sentence(llm: LlmSettings | None) -> str:
    if llm is None:
        return "no LLM endpoint is configured (enrichment.llm)"
    return f"the LLM key variable {llm.api_key_env} is not set"


def build_providers(settings: EnrichmentSettings, tasks: Iterable[str], *,
                    chat_factory: Callable[[LlmSettings], ChatClient] = ChatClient) -> ProviderSet:
    """The providers for ``tasks``; raises :class:`ConfigError` for an explicit ``llm`` that cannot be used."""
    tasks = set(tasks)
    llm = settings.llm
    llm_usable = llm is not None and llm.usable
    fell_back: list[str] = []
    chat: ChatClient | None = None

    def use_llm(task: str, choice: str) -> bool:
        if choice == "offline":
            return False
        if choice == "llm" and not llm_usable:
            raise ConfigError(f"enrichment.{task}.provider is 'llm' but {_missing_key_sentence(llm)}.")
        if choice == "auto" and not llm_usable:
            fell_back.append(task)
            return False
        return True

    def client() -> ChatClient:
        nonlocal chat
        if chat is None:
            assert llm is not None
            chat = chat_factory(llm)
        return chat

    sentiment = other = summaries = topics = None
    if "sentiment" in tasks:
        if use_llm("sentiment", settings.sentiment.provider):
            sentiment = LlmSentiment(client(), batch_size=settings.sentiment.batch_size)
        else:
            sentiment = VaderSentiment()
            if settings.sentiment.other_languages == "llm" and use_llm("sentiment", "llm"):
                other = LlmSentiment(client(), batch_size=settings.sentiment.batch_size)
    if "summaries" in tasks:
        summaries = (LlmSummary(client(), max_post_chars=settings.summaries.max_post_chars)
                     if use_llm("summaries", settings.summaries.provider) else ExtractiveSummary())
    if "topics" in tasks:
        topics = (LlmTopics(client(), max_post_chars=settings.topics.max_post_chars)
                  if use_llm("topics", settings.topics.provider)
                  else CooccurrenceTopics(min_posts=settings.topics.min_posts_per_topic))
    note = None
    if fell_back:
        verb = "uses" if len(fell_back) == 1 else "use"
        note = (f"enrich: {_missing_key_sentence(llm)}, so {', '.join(fell_back)} {verb} the offline providers "
                f"({OFFLINE_DESCRIPTION}).")
    return ProviderSet(sentiment, other, summaries, topics, note)
