"""The OpenAI-compatible provider against a local HTTP server speaking the chat-completions API.

Requests go through the real ``openai`` package to ``FakeOpenAI`` (enrich_fakes.py), a real HTTP server on
127.0.0.1 that answers like a small deterministic model, or with queued raw replies (429, 503, malformed).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from enrich_data import (
    AFTER_DATA,
    ENRICHMENT_SELECTION,
    GERMAN_ID,
    HAND_POSTS_AT,
    INJECTION_ID,
    INJECTION_TEXT,
    UNDETERMINED_ID,
    dbt,
)
from enrich_fakes import FakeOpenAI

from enrichment.providers import prompts
from enrichment.providers.base import SentimentItem
from enrichment.providers.factory import build_providers
from enrichment.providers.openai_compatible import ChatClient, LlmSentiment
from enrichment.runner import run_enrichment
from enrichment.settings import EnrichmentSettings
from orchestration.errors import ConfigError


def _settings(fake: FakeOpenAI, llm: dict | None = None, **sections) -> EnrichmentSettings:
    raw = {"llm": {"kind": "base_url", "base_url": fake.base_url, "model": "fake-gpt",
                   "backoff_initial_seconds": 0.01, "max_attempts": 3, **(llm or {})},
           "sentiment": {"provider": "llm"}, "summaries": {"provider": "llm"}, "topics": {"provider": "llm"}}
    for name, values in sections.items():
        raw[name] = {**raw[name], **values}
    return EnrichmentSettings.from_mapping(raw)


def _chat(fake: FakeOpenAI, **llm) -> tuple[ChatClient, list[float]]:
    sleeps: list[float] = []
    return ChatClient(_settings(fake, llm).llm, sleep=sleeps.append), sleeps


def _items(texts: list[str]) -> list[SentimentItem]:
    return [SentimentItem("i.example", str(1000 + n), 1, text, "en") for n, text in enumerate(texts)]


def _posts_sent(request: dict) -> list[dict]:
    block = request["user"].split("<posts>\n", 1)[1].rsplit("\n</posts>", 1)[0]
    return json.loads(block)


# -- the client and the sentiment provider, without a warehouse ---------------------------------------------

def test_many_posts_per_request_with_usage_per_request() -> None:
    with FakeOpenAI() as fake:
        chat, _ = _chat(fake)
        texts = [f"I love post number {n}" if n % 2 else f"I hate post number {n}" for n in range(120)]
        outcomes = LlmSentiment(chat, batch_size=50).score(_items(texts))
    assert sorted(len(_posts_sent(r)) for r in fake.requests) == [20, 50, 50]
    assert [o.score for o in outcomes] == [0.8 if n % 2 else -0.7 for n in range(120)]
    by_request: dict[str, list] = {}
    for outcome in outcomes:
        by_request.setdefault(outcome.request_id, []).append(outcome)
    assert sorted(len(v) for v in by_request.values()) == [20, 50, 50]
    for group in by_request.values():
        assert {o.request_post_count for o in group} == {len(group)}
        assert len({o.usage for o in group}) == 1 and group[0].usage.prompt_tokens > 0
    assert sum(o.usage.prompt_tokens for o in {o.request_id: o for o in outcomes}.values()) == \
        sum(len(r["user"]) // 4 + 1 for r in fake.requests)
    body = fake.requests[0]["body"]
    assert body["model"] == "fake-gpt" and body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0


def test_retry_on_429_honours_retry_after_and_5xx_gives_up_recorded() -> None:
    with FakeOpenAI() as fake:
        chat, sleeps = _chat(fake)
        fake.queue(429, {"error": {"message": "Rate limit reached", "type": "requests"}}, {"retry-after": "7"})
        outcomes = LlmSentiment(chat, batch_size=10).score(_items(["lovely day"] * 5))
        assert len(fake.requests) == 2 and sleeps == [7.0]
        assert all(o.score == 0.8 and o.error is None for o in outcomes)

        for _ in range(3):
            fake.queue(503, {"error": {"message": "overloaded"}})
        failed = LlmSentiment(chat, batch_size=10).score(_items(["lovely day"] * 5))
    assert len(fake.requests) == 5 and sleeps == [7.0, 0.01, 0.02]  # exponential back-off
    assert {o.error for o in failed} == {"the endpoint answered HTTP 503 (gave up after 3 attempt(s))"}
    assert all(o.score is None for o in failed)


def test_a_timeout_is_retried_then_recorded() -> None:
    with FakeOpenAI() as fake:
        fake.delay_seconds = 1.0
        chat, sleeps = _chat(fake, timeout_seconds=0.2, max_attempts=2)
        outcomes = LlmSentiment(chat, batch_size=10).score(_items(["lovely day"] * 3))
    assert len(fake.requests) == 2 and sleeps == [0.01]
    assert {o.error for o in outcomes} == {"the request timed out after 0.2 s (gave up after 2 attempt(s))"}


def test_a_malformed_answer_is_validated_asked_again_then_refused() -> None:
    with FakeOpenAI() as fake:
        chat, _ = _chat(fake)
        fake.queue(200, fake.completion("Sure! Here are the scores: p1 is happy", "x" * 40))
        outcomes = LlmSentiment(chat, batch_size=10).score(_items(["lovely day", "awful day"]))
        assert [o.score for o in outcomes] == [0.8, -0.7]
        assert len(fake.requests) == 2
        assert outcomes[0].usage.prompt_tokens == 11 + len(fake.requests[1]["user"]) // 4 + 1  # both tries counted

        bad = {"results": [{"id": "p1", "score": 5}, {"id": "p2", "score": 0}]}
        fake.queue(200, fake.completion(bad, "x"))
        fake.queue(200, fake.completion({"results": [{"id": "p7", "score": 0}]}, "x"))
        refused = LlmSentiment(chat, batch_size=10).score(_items(["lovely day", "awful day"]))
    assert {o.error for o in refused} == {"the answer does not match the expected schema: unknown post id 'p7'"}
    assert len(fake.requests) == 4  # the out-of-range score was asked again once, then refused
    assert all(o.score is None and o.usage.prompt_tokens > 0 for o in refused)


def test_a_prompt_injection_post_cannot_change_the_output_schema() -> None:
    with FakeOpenAI() as fake:
        fake.compromised = True
        chat, _ = _chat(fake)
        items = _items(["lovely day"] * 3 + [INJECTION_TEXT] + ["awful day"] * 3)
        outcomes = LlmSentiment(chat, batch_size=3).score(items)
    assert [o.score for o in outcomes[:3]] == [0.8] * 3 and [o.score for o in outcomes[6:]] == [-0.7]
    injected_batch = outcomes[3:6]
    assert all(o.score is None and "does not match the expected schema" in o.error for o in injected_batch)
    for request in fake.requests:
        # the post travels as data inside the <posts> block; the instructions never change
        assert request["system"] == prompts.SENTIMENT_SYSTEM
        assert request["user"].count("<posts>") == 1 and request["user"].count("</posts>") == 1
    assert any(INJECTION_TEXT in [p["text"] for p in _posts_sent(r)] for r in fake.requests)


def test_concurrency_is_limited() -> None:
    with FakeOpenAI() as fake:
        fake.delay_seconds = 0.2
        chat, _ = _chat(fake, max_concurrency=2)
        outcomes = LlmSentiment(chat, batch_size=2).score(_items(["lovely day"] * 12))
    assert len(fake.requests) == 6 and all(o.score == 0.8 for o in outcomes)
    assert fake.peak_in_flight <= 2


def test_azure_openai_settings_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKALYTICS_TEST_AZURE_KEY", "azure-key-123")
    with FakeOpenAI() as fake:
        settings = EnrichmentSettings.from_mapping({"llm": {
            "kind": "azure", "azure_endpoint": fake.root_url, "azure_deployment": "sentiment-deployment",
            "api_version": "2024-10-21", "api_key_env": "FORKALYTICS_TEST_AZURE_KEY"}})
        providers = build_providers(settings, ["sentiment"])
        assert providers.offline_note is None and providers.sentiment.name == "llm"
        outcomes = providers.sentiment.score(_items(["lovely day"]))
    assert outcomes[0].score == 0.8 and providers.sentiment.model == "sentiment-deployment"
    request = fake.requests[0]
    assert request["path"] == "/openai/deployments/sentiment-deployment/chat/completions"
    assert request["query"] == {"api-version": ["2024-10-21"]}
    assert request["headers"]["api-key"] == "azure-key-123"


def test_openai_key_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKALYTICS_TEST_OPENAI_KEY", "sk-test-456")
    with FakeOpenAI() as fake:
        settings = EnrichmentSettings.from_mapping({"llm": {
            "kind": "openai", "base_url": fake.base_url, "api_key_env": "FORKALYTICS_TEST_OPENAI_KEY"}})
        build_providers(settings, ["sentiment"]).sentiment.score(_items(["lovely day"]))
    assert fake.requests[0]["headers"]["authorization"] == "Bearer sk-test-456"
    assert fake.requests[0]["body"]["model"] == "gpt-4o-mini"
    with pytest.raises(ConfigError, match="api_key is not allowed"):
        EnrichmentSettings.from_mapping({"llm": {"api_key": "sk-in-the-file"}})
    with pytest.raises(ConfigError, match="api_version is required"):
        EnrichmentSettings.from_mapping({"llm": {"kind": "azure", "azure_endpoint": "https://x.openai.azure.com",
                                                 "azure_deployment": "d"}})
    with pytest.raises(ConfigError, match="no enrichment.llm endpoint"):
        EnrichmentSettings.from_mapping({"summaries": {"provider": "llm"}})
    monkeypatch.delenv("FORKALYTICS_TEST_OPENAI_KEY")
    missing = EnrichmentSettings.from_mapping({"llm": {"api_key_env": "FORKALYTICS_TEST_OPENAI_KEY"},
                                               "topics": {"provider": "llm"}})
    with pytest.raises(ConfigError, match="FORKALYTICS_TEST_OPENAI_KEY is not set"):
        build_providers(missing, ["topics"])
    note = build_providers(missing, ["sentiment", "summaries"]).offline_note
    assert note is not None and "FORKALYTICS_TEST_OPENAI_KEY is not set" in note and "offline providers" in note


# -- whole runs against the warehouse -----------------------------------------------------------------------

def test_llm_enrichment_audited_batched_and_sent_once(marts_db) -> None:
    with FakeOpenAI() as fake:
        settings = _settings(fake, {"max_concurrency": 2}, sentiment={"batch_size": 40})
        report = run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA)
        assert report.offline_note is None and report.failures == 0
        sentiment_requests = fake.requests_for("sentiment")
        sizes = [len(_posts_sent(r)) for r in sentiment_requests]
        assert sum(sizes) == report.sentiment.sent and max(sizes) == 40
        assert len(sentiment_requests) <= math.ceil(report.sentiment.sent / 40) + 1  # + a partial last chunk

        # every eligible version analysed, other languages included; audit columns filled
        eligible = marts_db.scalar("select count(*) from marts.post_versions where not is_post_deleted")
        assert marts_db.scalar("select count(*) from enrichment.post_sentiments") == eligible
        assert marts_db.query("select status, sentiment_label from enrichment.post_sentiments where post_id = %s",
                              (GERMAN_ID,)) == [("scored", "negative")]
        assert marts_db.query("select status from enrichment.post_sentiments where post_id = %s",
                              (UNDETERMINED_ID,)) == [("scored",)]
        assert marts_db.scalar("""
            select count(*) from enrichment.post_sentiments
            where status = 'scored' and not reused and (provider <> 'llm' or model <> 'fake-gpt'
               or prompt_version <> 'llm-sentiment-v1' or request_id is null or prompt_tokens <= 0
               or completion_tokens <= 0 or attempt_count <> 1 or analyzed_at <> %s)""", (AFTER_DATA,)) == 0
        per_request = marts_db.query("""
            select request_id, max(request_post_count), count(*), count(distinct prompt_tokens)
            from enrichment.post_sentiments where not reused and request_id is not null group by 1""")
        assert len(per_request) == len(sentiment_requests)
        assert all(size == rows and tokens == 1 for _, size, rows, tokens in per_request)
        assert report.sentiment.usage.prompt_tokens == sum(len(r["user"]) // 4 + 1 for r in sentiment_requests)

        # summaries: the model wrote placeholders; every number comes from the statistics
        rows = marts_db.query("select status, summary_text, input_stats_json, prompt_tokens, model "
                              "from enrichment.daily_summaries")
        assert rows and {r[0] for r in rows} == {"ok"}
        for _, text, stats, tokens, model in rows:
            assert text.startswith(f"People shared {stats['post_count']} posts from {stats['unique_authors']} "
                                   "authors") and "{" not in text
            assert tokens > 0 and model == "fake-gpt"
        # topics: counts and ids validated
        assert marts_db.scalar("select count(*) from enrichment.hourly_topics") > 0
        assert marts_db.scalar("select count(*) from enrichment.hourly_topics "
                               "where post_count <> jsonb_array_length(post_ids)") == 0

        before = len(fake.requests)
        again = run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA + timedelta(hours=1))
        assert len(fake.requests) == before  # nothing sent twice
        assert (again.sentiment.sent, again.summaries.generated, again.topics.hours) == (0, 0, 0)
    dbt(["build", *ENRICHMENT_SELECTION], marts_db.dsn, marts_db.state_dir)
    assert marts_db.scalar("select count(*) from marts.post_sentiments where provider = 'llm'") > 0


def test_injected_post_fails_its_batch_its_day_and_loses_its_fake_ids(marts_db) -> None:
    with FakeOpenAI() as fake:
        fake.compromised = True
        settings = _settings(fake, sentiment={"batch_size": 25})
        report = run_enrichment(marts_db.dsn, settings, say=lambda line: None, now=AFTER_DATA)

    # sentiment: only the batch carrying the post failed, with the schema error, due for a retry
    failed = marts_db.query("select post_id, error, next_retry_at from enrichment.post_sentiments "
                            "where status = 'failed'")
    assert INJECTION_ID in {row[0] for row in failed}
    # one request of at most 25 distinct inputs (identical texts elsewhere share their result)
    assert marts_db.scalar("select count(distinct request_id) from enrichment.post_sentiments "
                           "where status = 'failed'") == 1
    assert marts_db.scalar("select count(distinct input_hash) from enrichment.post_sentiments "
                           "where status = 'failed'") <= 25
    assert all("does not match the expected schema" in row[1] and row[2] > AFTER_DATA for row in failed)
    assert report.sentiment.failed == len(failed)
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments where status = 'scored'") > 1000

    # summaries: the day whose top posts include the injection has no summary with the invented number
    day = HAND_POSTS_AT.date()
    status, error, text = marts_db.query("select status, error, summary_text from enrichment.daily_summaries "
                                         "where summary_date = %s", (day,))[0]
    assert (status, text) == ("failed", None)
    assert "1,000,000" in error
    assert marts_db.scalar("select count(*) from enrichment.daily_summaries "
                           "where summary_text like '%%1,000,000%%'") == 0

    # topics: the invented id p999 is dropped and noted, never stored
    notes = marts_db.scalar("""
        select validation_notes from enrichment.hourly_topic_runs
        where hour_start = date_trunc('hour', %s::timestamptz) and status = 'ok'""", (HAND_POSTS_AT,))
    assert any("unknown:p999" in note for note in notes)
    assert marts_db.scalar("select count(*) from enrichment.hourly_topics where post_ids::text like '%%p999%%' "
                           "or post_ids::text like '%%unknown%%'") == 0


def test_other_languages_go_to_the_llm_even_when_skipped_before(marts_db) -> None:
    run_enrichment(marts_db.dsn, EnrichmentSettings(), say=lambda line: None, tasks=["sentiment"], now=AFTER_DATA)
    skipped = marts_db.scalar("select count(*) from enrichment.post_sentiments "
                              "where skip_reason in ('unsupported_language', 'undetermined_language')")
    assert skipped > 100
    with FakeOpenAI() as fake:
        settings = _settings(fake, sentiment={"provider": "offline", "other_languages": "llm", "batch_size": 50},
                             summaries={"provider": "offline"}, topics={"provider": "offline"})
        report = run_enrichment(marts_db.dsn, settings, say=lambda line: None, tasks=["sentiment"],
                                now=AFTER_DATA + timedelta(hours=1))
        sent_texts = [p["text"] for r in fake.requests for p in _posts_sent(r)]
        assert report.sentiment.sent == len(sent_texts) > 0 and report.failures == 0
        again = run_enrichment(marts_db.dsn, settings, say=lambda line: None, tasks=["sentiment"],
                               now=AFTER_DATA + timedelta(hours=2))
        assert again.sentiment.sent == 0 and len(fake.requests) == len(set(r["user"] for r in fake.requests))
    llm_rows = marts_db.scalar("select count(*) from enrichment.post_sentiments where provider = 'llm'")
    assert llm_rows == skipped  # every language skip has an LLM result now, nothing else went to the LLM
    assert marts_db.query("select provider, status, sentiment_label from enrichment.post_sentiments "
                          "where post_id = %s order by provider", (GERMAN_ID,)) == \
        [("llm", "scored", "negative"), ("offline", "skipped", None)]
    dbt(["build", *ENRICHMENT_SELECTION], marts_db.dsn, marts_db.state_dir)
    assert marts_db.query("select provider, sentiment_status, result_count from marts.post_sentiments "
                          "where post_id = %s", (GERMAN_ID,)) == [("llm", "scored", 2)]
