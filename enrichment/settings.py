"""The ``enrichment:`` section of the configuration, parsed once into frozen, validated dataclasses.

Every task (``sentiment``, ``summaries``, ``topics``) names its provider: ``offline`` (no network, no key),
``llm`` (the OpenAI-compatible endpoint described under ``llm:``) or ``auto`` (the default: ``llm`` when an
endpoint is configured and its key is present in the environment, else ``offline``). API keys never live in
the file: ``llm.api_key_env`` names the environment variable that holds the key. Every problem is reported
as one sentence through :class:`orchestration.errors.ConfigError`.

Example::

    enrichment:
      llm:
        kind: openai              # openai | azure | base_url
        model: gpt-4o-mini
        api_key_env: OPENAI_API_KEY
      sentiment: {provider: auto, positive_threshold: 0.05, negative_threshold: -0.05}
      summaries: {provider: auto, time_zone: Europe/Berlin}
      topics: {provider: offline}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestration.errors import ConfigError

PROVIDER_CHOICES = ("auto", "offline", "llm")
LLM_KINDS = ("openai", "azure", "base_url")
OTHER_LANGUAGE_CHOICES = ("skip", "llm")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LlmSettings:
    """One OpenAI-compatible endpoint: OpenAI itself, an Azure OpenAI deployment, or any base URL.

    ``model`` is the model name sent with each request (for Azure the deployment name is used when no model
    is given). ``max_attempts`` bounds the tries of one request (429, 5xx, timeouts and connection errors are
    retried with exponential back-off starting at ``backoff_initial_seconds``, honouring ``Retry-After``);
    ``invalid_answer_retries`` is how many times a request is asked again when the answer does not match the
    expected JSON schema; ``max_concurrency`` bounds the requests in flight at once.
    """

    kind: str = "openai"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    base_url: str | None = None
    azure_endpoint: str | None = None
    azure_deployment: str | None = None
    api_version: str | None = None
    timeout_seconds: float = 60.0
    max_attempts: int = 5
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    max_concurrency: int = 4
    temperature: float = 0.0
    json_mode: bool = True
    invalid_answer_retries: int = 1

    @property
    def api_key(self) -> str | None:
        """The key from the environment variable named by ``api_key_env`` (None when unset or empty)."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env, "").strip() or None

    @property
    def usable(self) -> bool:
        """True when requests can be made: a key is present, or a key-less local server (``base_url``
        without ``api_key_env``) is configured."""
        if self.api_key is not None:
            return True
        return self.kind == "base_url" and not self.api_key_env

    @property
    def model_name(self) -> str:
        """The model recorded in audit columns: the model, or the Azure deployment."""
        if self.kind == "azure" and self.azure_deployment and not self.model:
            return self.azure_deployment
        return self.model


@dataclass(frozen=True)
class SentimentSettings:
    """Sentiment per post version.

    Labels come from the score: ``positive`` when score >= ``positive_threshold``, ``negative`` when score
    <= ``negative_threshold``, else ``neutral``. ``other_languages: llm`` sends posts the offline (English-only)
    scorer cannot handle to the LLM endpoint instead of recording a skip. A failed post is retried after
    ``retry_initial_minutes``, doubling per attempt up to ``retry_max_minutes``; after ``max_attempts`` it
    stays ``failed`` with no retry time (visible, never marked done) until a forced run.
    """

    provider: str = "auto"
    other_languages: str = "skip"
    positive_threshold: float = 0.05
    negative_threshold: float = -0.05
    batch_size: int = 50
    chunk_size: int = 1000
    retry_initial_minutes: float = 5.0
    retry_max_minutes: float = 1440.0
    max_attempts: int = 10


@dataclass(frozen=True)
class SummarySettings:
    """Daily summaries per instance and calendar day in ``time_zone``.

    A day is summarised once it has ended and ``settle_minutes`` have passed (late posts and engagement
    arrive after midnight); a day that succeeded is not regenerated unless forced; a failed day is tried
    again on every cycle.
    """

    provider: str = "auto"
    time_zone: str = "UTC"
    top_posts: int = 20
    top_hashtags: int = 10
    settle_minutes: float = 60.0
    max_post_chars: int = 500

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class TopicSettings:
    """Hourly topics per instance and UTC hour, from the hour's ``top_posts`` most engaging posts."""

    provider: str = "auto"
    top_posts: int = 200
    max_topics: int = 8
    min_posts_per_topic: int = 2
    sample_size: int = 5
    settle_minutes: float = 10.0
    max_post_chars: int = 300


@dataclass(frozen=True)
class EnrichmentSettings:
    """The whole ``enrichment:`` section."""

    llm: LlmSettings | None = None
    sentiment: SentimentSettings = field(default_factory=SentimentSettings)
    summaries: SummarySettings = field(default_factory=SummarySettings)
    topics: TopicSettings = field(default_factory=TopicSettings)

    @classmethod
    def from_mapping(cls, raw: dict | None) -> EnrichmentSettings:
        """Validate the ``enrichment:`` section (None or empty: every default, offline providers)."""
        section = _mapping(raw, "enrichment")
        _no_unknown(section, {"llm", "sentiment", "summaries", "topics"}, "enrichment")
        llm = _parse_llm(section["llm"]) if section.get("llm") is not None else None
        sentiment = _parse_sentiment(_mapping(section.get("sentiment"), "enrichment.sentiment"))
        summaries = _parse_summaries(_mapping(section.get("summaries"), "enrichment.summaries"))
        topics = _parse_topics(_mapping(section.get("topics"), "enrichment.topics"))
        settings = cls(llm=llm, sentiment=sentiment, summaries=summaries, topics=topics)
        for task in ("sentiment", "summaries", "topics"):
            if getattr(settings, task).provider == "llm" and llm is None:
                raise ConfigError(f"enrichment.{task}.provider is 'llm' but no enrichment.llm endpoint is configured.")
        if sentiment.other_languages == "llm" and llm is None:
            raise ConfigError("enrichment.sentiment.other_languages is 'llm' but no enrichment.llm endpoint "
                              "is configured.")
        return settings


# -- parsing helpers --------------------------------------------------------------------------------------

def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of settings, not {type(value).__name__}.")
    return value


def _no_unknown(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))}).")


def _number(mapping: dict, key: str, default: float, where: str, *, integer: bool = False,
            minimum: float | None = None, maximum: float | None = None) -> Any:
    value = mapping.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where}.{key} must be {kind}, not {value!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}.{key} must be at least {minimum:g}, not {value!r}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{where}.{key} must be at most {maximum:g}, not {value!r}.")
    return value


def _choice(mapping: dict, key: str, default: str, choices: tuple[str, ...], where: str) -> str:
    value = mapping.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}.{key} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def _text(mapping: dict, key: str, default: str | None, where: str) -> str | None:
    value = mapping.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key} must be a non-empty string, not {value!r}.")
    return value.strip()


def _url(mapping: dict, key: str, where: str) -> str | None:
    value = _text(mapping, key, None, where)
    if value is not None and not re.match(r"^https?://[^\s/]+", value):
        raise ConfigError(f"{where}.{key} must be an http(s) URL, not {value!r}.")
    return value


def _parse_llm(raw: Any) -> LlmSettings:
    where = "enrichment.llm"
    llm = _mapping(raw, where)
    _no_unknown(llm, {"kind", "model", "api_key_env", "base_url", "azure_endpoint", "azure_deployment",
                      "api_version", "timeout_seconds", "max_attempts", "backoff_initial_seconds",
                      "backoff_max_seconds", "max_concurrency", "temperature", "json_mode",
                      "invalid_answer_retries", "api_key"}, where)
    if "api_key" in llm:
        raise ConfigError(f"{where}.api_key is not allowed: put the key in an environment variable and name it "
                          f"with {where}.api_key_env.")
    kind = _choice(llm, "kind", "openai", LLM_KINDS, where)
    default_env = None if kind == "base_url" else ("AZURE_OPENAI_API_KEY" if kind == "azure" else "OPENAI_API_KEY")
    api_key_env = _text(llm, "api_key_env", default_env, where)
    if api_key_env is not None and not _ENV_NAME.match(api_key_env):
        raise ConfigError(f"{where}.api_key_env must be the name of an environment variable, not {api_key_env!r}.")
    base_url = _url(llm, "base_url", where)
    azure_endpoint = _url(llm, "azure_endpoint", where)
    azure_deployment = _text(llm, "azure_deployment", None, where)
    api_version = _text(llm, "api_version", None, where)
    model = _text(llm, "model", None, where)
    if kind == "base_url" and base_url is None:
        raise ConfigError(f"{where}.base_url is required when {where}.kind is 'base_url'.")
    if kind == "azure":
        missing = [name for name, value in (("azure_endpoint", azure_endpoint), ("azure_deployment", azure_deployment),
                                            ("api_version", api_version)) if value is None]
        if missing:
            raise ConfigError(f"{where}.{missing[0]} is required when {where}.kind is 'azure'.")
    if model is None:
        model = azure_deployment if kind == "azure" else "gpt-4o-mini"
    json_mode = llm.get("json_mode", True)
    if not isinstance(json_mode, bool):
        raise ConfigError(f"{where}.json_mode must be true or false, not {json_mode!r}.")
    initial = _number(llm, "backoff_initial_seconds", 1.0, where, minimum=0)
    maximum = _number(llm, "backoff_max_seconds", 60.0, where, minimum=0)
    if maximum < initial:
        raise ConfigError(f"{where}.backoff_max_seconds must not be below {where}.backoff_initial_seconds.")
    return LlmSettings(
        kind=kind, model=model, api_key_env=api_key_env, base_url=base_url, azure_endpoint=azure_endpoint,
        azure_deployment=azure_deployment, api_version=api_version,
        timeout_seconds=_number(llm, "timeout_seconds", 60.0, where, minimum=0.1),
        max_attempts=_number(llm, "max_attempts", 5, where, integer=True, minimum=1),
        backoff_initial_seconds=initial, backoff_max_seconds=maximum,
        max_concurrency=_number(llm, "max_concurrency", 4, where, integer=True, minimum=1),
        temperature=_number(llm, "temperature", 0.0, where, minimum=0, maximum=2),
        json_mode=json_mode,
        invalid_answer_retries=_number(llm, "invalid_answer_retries", 1, where, integer=True, minimum=0),
    )


def _parse_sentiment(raw: dict) -> SentimentSettings:
    where = "enrichment.sentiment"
    _no_unknown(raw, {"provider", "other_languages", "positive_threshold", "negative_threshold", "batch_size",
                      "chunk_size", "retry_initial_minutes", "retry_max_minutes", "max_attempts"}, where)
    positive = _number(raw, "positive_threshold", 0.05, where, minimum=-1, maximum=1)
    negative = _number(raw, "negative_threshold", -0.05, where, minimum=-1, maximum=1)
    if negative >= positive:
        raise ConfigError(f"{where}.negative_threshold ({negative:g}) must be below "
                          f"{where}.positive_threshold ({positive:g}).")
    initial = _number(raw, "retry_initial_minutes", 5.0, where, minimum=0)
    maximum = _number(raw, "retry_max_minutes", 1440.0, where, minimum=0)
    if maximum < initial:
        raise ConfigError(f"{where}.retry_max_minutes must not be below {where}.retry_initial_minutes.")
    return SentimentSettings(
        provider=_choice(raw, "provider", "auto", PROVIDER_CHOICES, where),
        other_languages=_choice(raw, "other_languages", "skip", OTHER_LANGUAGE_CHOICES, where),
        positive_threshold=positive, negative_threshold=negative,
        batch_size=_number(raw, "batch_size", 50, where, integer=True, minimum=1, maximum=500),
        chunk_size=_number(raw, "chunk_size", 1000, where, integer=True, minimum=1),
        retry_initial_minutes=initial, retry_max_minutes=maximum,
        max_attempts=_number(raw, "max_attempts", 10, where, integer=True, minimum=1),
    )


def _parse_summaries(raw: dict) -> SummarySettings:
    where = "enrichment.summaries"
    _no_unknown(raw, {"provider", "time_zone", "top_posts", "top_hashtags", "settle_minutes", "max_post_chars"},
                where)
    zone = _text(raw, "time_zone", "UTC", where) or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}.time_zone {zone!r} is not a known IANA time zone (e.g. UTC, Europe/Berlin).") \
            from exc
    return SummarySettings(
        provider=_choice(raw, "provider", "auto", PROVIDER_CHOICES, where),
        time_zone=zone,
        top_posts=_number(raw, "top_posts", 20, where, integer=True, minimum=1, maximum=200),
        top_hashtags=_number(raw, "top_hashtags", 10, where, integer=True, minimum=1, maximum=100),
        settle_minutes=_number(raw, "settle_minutes", 60.0, where, minimum=0),
        max_post_chars=_number(raw, "max_post_chars", 500, where, integer=True, minimum=20),
    )


def _parse_topics(raw: dict) -> TopicSettings:
    where = "enrichment.topics"
    _no_unknown(raw, {"provider", "top_posts", "max_topics", "min_posts_per_topic", "sample_size",
                      "settle_minutes", "max_post_chars"}, where)
    return TopicSettings(
        provider=_choice(raw, "provider", "auto", PROVIDER_CHOICES, where),
        top_posts=_number(raw, "top_posts", 200, where, integer=True, minimum=1, maximum=1000),
        max_topics=_number(raw, "max_topics", 8, where, integer=True, minimum=1, maximum=20),
        min_posts_per_topic=_number(raw, "min_posts_per_topic", 2, where, integer=True, minimum=1),
        sample_size=_number(raw, "sample_size", 5, where, integer=True, minimum=1, maximum=50),
        settle_minutes=_number(raw, "settle_minutes", 10.0, where, minimum=0),
        max_post_chars=_number(raw, "max_post_chars", 300, where, integer=True, minimum=20),
    )
