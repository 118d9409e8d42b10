"""Providers backed by an OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI, any base URL).

:class:`ChatClient` owns the connection and the rules every request follows:

* at most ``max_concurrency`` requests in flight (shared by all tasks using the client);
* 429, 5xx, timeouts and connection errors are retried up to ``max_attempts`` tries with exponential back-off
  (``Retry-After`` honoured when the server sends it, capped at ``backoff_max_seconds``); other errors
  (bad request, authentication) fail at once;
* the answer must be one JSON object valid against the task's schema (:mod:`.json_schema`) and against the
  inputs (ids that exist, numbers that come from the statistics); an invalid answer is asked for again up to
  ``invalid_answer_retries`` times, then the request fails with the first problem found;
* the tokens of every request, retries included, are counted.

The providers split work into requests: sentiment sends ``batch_size`` posts per request (short ids ``p1``,
``p2``... stand for the posts), summaries one request per day, topics one request per hour.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import openai

from enrichment.grounding import fill_placeholders, numbers_in, standalone_numbers, ungrounded_numbers
from enrichment.providers import prompts
from enrichment.providers.base import (
    DayInput,
    HourInput,
    PostText,
    ProposedTopic,
    ProviderError,
    SentimentItem,
    SentimentOutcome,
    SummaryOutcome,
    TopicsOutcome,
    Usage,
)
from enrichment.providers.json_schema import validate
from enrichment.settings import LlmSettings

EMPTY_TEXT = "empty_text"
Check = Callable[[Any], list[str]]


@dataclass(frozen=True)
class ChatAnswer:
    """A validated answer: the parsed JSON, the tokens spent on it (all tries), the request's id."""

    value: Any
    usage: Usage
    request_id: str


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def build_openai_client(settings: LlmSettings) -> openai.OpenAI:
    """The SDK client for the configured endpoint (the SDK's own retries are off: :class:`ChatClient` retries)."""
    key = settings.api_key or "no-key-needed"
    common: dict[str, Any] = {"api_key": key, "timeout": settings.timeout_seconds, "max_retries": 0}
    if settings.kind == "azure":
        return openai.AzureOpenAI(azure_endpoint=settings.azure_endpoint, azure_deployment=settings.azure_deployment,
                                  api_version=settings.api_version, **common)
    if settings.base_url:
        common["base_url"] = settings.base_url
    return openai.OpenAI(**common)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


class ChatClient:
    """Sends chat-completion requests with the retry, concurrency and validation rules above."""

    def __init__(self, settings: LlmSettings, *, client: openai.OpenAI | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._client = client or build_openai_client(settings)
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._sleep = sleep

    @property
    def model(self) -> str:
        return self.settings.model_name

    def ask_json(self, system: str, user: str, schema: dict[str, Any], check: Check | None = None) -> ChatAnswer:
        """Ask until the answer is valid JSON matching ``schema`` and passing ``check`` (which returns problems);
        raises :class:`ProviderError` with the first problem when no valid answer came."""
        usage = Usage()
        problem = "no answer"
        request_id = ""
        for _ in range(self.settings.invalid_answer_retries + 1):
            content, spent, request_id = self._complete(system, user)
            usage = usage + spent
            try:
                value = json.loads(content)
            except (TypeError, ValueError):
                problem = "the answer is not valid JSON"
                continue
            problems = validate(value, schema)
            if not problems and check is not None:
                problems = check(value)
            if not problems:
                return ChatAnswer(value, usage, request_id)
            problem = "the answer does not match the expected schema: " + problems[0]
        raise _InvalidAnswer(problem, usage, request_id)

    def _complete(self, system: str, user: str) -> tuple[str | None, Usage, str]:
        settings = self.settings
        delay = settings.backoff_initial_seconds
        last = "no attempt made"
        for attempt in range(1, settings.max_attempts + 1):
            try:
                with self._slots:
                    return self._create(system, user)
            except _Retryable as exc:
                last = str(exc)
                if attempt == settings.max_attempts:
                    break
                wait = exc.retry_after if exc.retry_after is not None else delay
                self._sleep(min(max(wait, 0.0), settings.backoff_max_seconds))
                delay = min(delay * 2, settings.backoff_max_seconds)
        raise ProviderError(f"{last} (gave up after {settings.max_attempts} attempt(s))")

    def _create(self, system: str, user: str) -> tuple[str | None, Usage, str]:
        settings = self.settings
        extra: dict[str, Any] = {}
        if settings.json_mode:
            extra["response_format"] = {"type": "json_object"}
        try:
            response = self._client.chat.completions.create(
                model=settings.model_name, temperature=settings.temperature,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}], **extra)
        except openai.RateLimitError as exc:
            raise _Retryable("the endpoint answered 429 Too Many Requests", _retry_after(exc)) from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise _Retryable(f"the endpoint answered HTTP {exc.status_code}", _retry_after(exc)) from exc
            raise ProviderError(f"the endpoint refused the request with HTTP {exc.status_code}") from exc
        except openai.APITimeoutError as exc:
            raise _Retryable(f"the request timed out after {settings.timeout_seconds:g} s") from exc
        except openai.APIConnectionError as exc:
            raise _Retryable("the endpoint could not be reached") from exc
        usage = Usage()
        if getattr(response, "usage", None) is not None:
            usage = Usage(int(response.usage.prompt_tokens or 0), int(response.usage.completion_tokens or 0))
        content = response.choices[0].message.content if response.choices else None
        return content, usage, str(getattr(response, "id", None) or uuid.uuid4())


class _InvalidAnswer(ProviderError):
    """No valid answer after the allowed re-asks; carries the tokens the invalid answers cost."""

    def __init__(self, message: str, usage: Usage, request_id: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.request_id = request_id


def _post_json(post: PostText, local_id: str, max_chars: int) -> dict[str, Any]:
    return {"id": local_id, "language": post.language, "hashtags": list(post.hashtags),
            "text": post.text[:max_chars]}


# -- sentiment ----------------------------------------------------------------------------------------------

class LlmSentiment:
    """Sentiment of posts in any language, ``batch_size`` posts per request, batches sent concurrently."""

    name = "llm"
    prompt_version = prompts.SENTIMENT_PROMPT_VERSION

    def __init__(self, chat: ChatClient, *, batch_size: int) -> None:
        self.chat = chat
        self.model = chat.model
        self.batch_size = batch_size

    def skip_reason(self, item: SentimentItem) -> str | None:
        return EMPTY_TEXT if not item.text.strip() else None

    def score(self, items: Sequence[SentimentItem]) -> list[SentimentOutcome]:
        batches = [list(items[i:i + self.batch_size]) for i in range(0, len(items), self.batch_size)]
        if not batches:
            return []
        with ThreadPoolExecutor(max_workers=self.chat.settings.max_concurrency) as pool:
            results = list(pool.map(self._score_batch, batches))
        return [outcome for batch in results for outcome in batch]

    def _score_batch(self, batch: list[SentimentItem]) -> list[SentimentOutcome]:
        local_ids = [f"p{i + 1}" for i in range(len(batch))]
        posts = [{"id": local_id, "language": item.language, "text": item.text}
                 for local_id, item in zip(local_ids, batch, strict=True)]

        def check(value: Any) -> list[str]:
            seen: set[str] = set()
            for result in value["results"]:
                if result["id"] not in local_ids:
                    return [f"unknown post id {result['id']!r}"]
                if result["id"] in seen:
                    return [f"post id {result['id']!r} appears twice"]
                seen.add(result["id"])
            return []

        try:
            answer = self.chat.ask_json(prompts.SENTIMENT_SYSTEM, prompts.sentiment_user_message(posts),
                                        prompts.SENTIMENT_SCHEMA, check)
        except _InvalidAnswer as exc:
            return [SentimentOutcome(error=str(exc), request_id=exc.request_id, request_post_count=len(batch),
                                     usage=exc.usage)] * len(batch)
        except ProviderError as exc:
            return [SentimentOutcome(error=str(exc), request_post_count=len(batch))] * len(batch)
        scores = {result["id"]: float(result["score"]) for result in answer.value["results"]}
        outcomes = []
        for local_id in local_ids:
            common = {"request_id": answer.request_id, "request_post_count": len(batch), "usage": answer.usage}
            if local_id in scores:
                outcomes.append(SentimentOutcome(score=scores[local_id], **common))
            else:
                outcomes.append(SentimentOutcome(error="the post was missing from the model's answer", **common))
        return outcomes


# -- daily summaries ----------------------------------------------------------------------------------------

class LlmSummary:
    """A daily summary written by the model with placeholders; every number is filled in from the stats."""

    name = "llm"
    prompt_version = prompts.SUMMARY_PROMPT_VERSION

    def __init__(self, chat: ChatClient, *, max_post_chars: int) -> None:
        self.chat = chat
        self.model = chat.model
        self.max_post_chars = max_post_chars

    def summarise(self, day: DayInput) -> SummaryOutcome:
        posts = [_post_json(post, f"p{i + 1}", self.max_post_chars) for i, post in enumerate(day.posts)]
        message = prompts.summary_user_message(day.day_label, dict(day.placeholders), dict(day.stats), posts)

        def check(value: Any) -> list[str]:
            date_parts = set(numbers_in(day.day_label.replace("-", " ")))
            for text in [value["summary_text"], *value["trending_topics"], *value["notable_events"]]:
                own = [n for n in standalone_numbers(text) if n not in date_parts]
                if own:
                    return [f"the answer writes the number {own[0]} instead of a placeholder"]
            try:
                filled = _filled_summary(value, day)
            except KeyError as exc:
                return [f"unknown placeholder {{{exc.args[0]}}}"]
            for text in [filled["summary_text"], *filled["trending_topics"], *filled["notable_events"]]:
                bad = ungrounded_numbers(text, set(day.allowed_numbers))
                if bad:
                    return [f"the number {bad[0]} does not come from the statistics"]
            return []

        try:
            answer = self.chat.ask_json(prompts.SUMMARY_SYSTEM, message, prompts.SUMMARY_SCHEMA, check)
        except _InvalidAnswer as exc:
            raise SummaryFailed(str(exc), exc.usage) from exc
        filled = _filled_summary(answer.value, day)
        return SummaryOutcome(filled["summary_text"], filled["trending_topics"], filled["notable_events"],
                              answer.usage)


class SummaryFailed(ProviderError):
    """A summary request that produced no valid answer, with the tokens it cost."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message)
        self.usage = usage


def _filled_summary(value: dict[str, Any], day: DayInput) -> dict[str, Any]:
    values = dict(day.placeholders)
    return {
        "summary_text": fill_placeholders(value["summary_text"], values).strip(),
        "trending_topics": [fill_placeholders(t, values).strip() for t in value["trending_topics"]],
        "notable_events": [fill_placeholders(e, values).strip() for e in value["notable_events"]],
    }


# -- hourly topics ------------------------------------------------------------------------------------------

class LlmTopics:
    """Topics of an hour; the model names topics and points at posts, the task checks the ids and counts."""

    name = "llm"
    prompt_version = prompts.TOPICS_PROMPT_VERSION

    def __init__(self, chat: ChatClient, *, max_post_chars: int) -> None:
        self.chat = chat
        self.model = chat.model
        self.max_post_chars = max_post_chars

    def find_topics(self, hour: HourInput, *, max_topics: int) -> TopicsOutcome:
        local_ids = {f"p{i + 1}": post.post_id for i, post in enumerate(hour.posts)}
        posts = [_post_json(post, local_id, self.max_post_chars)
                 for local_id, post in zip(local_ids, hour.posts, strict=True)]
        label = hour.hour_start.strftime("%Y-%m-%d %H:00 UTC")
        try:
            answer = self.chat.ask_json(prompts.TOPICS_SYSTEM, prompts.topics_user_message(label, max_topics, posts),
                                        prompts.topics_schema(max_topics))
        except _InvalidAnswer as exc:
            raise TopicsFailed(str(exc), exc.usage) from exc
        topics = [ProposedTopic(topic=item["topic"].strip(), summary=item["summary"].strip(),
                                post_ids=tuple(local_ids.get(pid, f"unknown:{pid}") for pid in item["post_ids"]))
                  for item in answer.value["topics"]]
        return TopicsOutcome(topics, answer.usage)


class TopicsFailed(ProviderError):
    """A topics request that produced no valid answer, with the tokens it cost."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message)
        self.usage = usage
