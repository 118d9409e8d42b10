"""Small parts of enrichment without a warehouse: VADER's scores, language decisions, grounding of numbers,
the answer schema validator, the retry schedule and local-day windows."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from enrich_data import simulator_events
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from enrichment.grounding import allowed_numbers, standalone_numbers, ungrounded_numbers
from enrichment.language import UNDETERMINED_LANGUAGE, UNSUPPORTED_LANGUAGE, english_only_verdict
from enrichment.providers import prompts
from enrichment.providers.base import SentimentItem
from enrichment.providers.json_schema import validate
from enrichment.providers.vader import EMPTY_TEXT, VaderSentiment, _WindowedAnalyzer
from enrichment.retry_schedule import next_retry_at
from enrichment.windows import day_window, require_aware

TRICKY = ["I am not happy at all", "This is kind of good but never so bad", "Without doubt the best, NOT GREAT!!!",
          "the bomb was the shit, yeah right", "no no no, I do not love it", "It isn't horrible, at least not very",
          "sort of okay :) 😀 but really terrible", "Never this good. never so happy. cut me some slack",
          "I least like it", "he is at least happy", "  padded  ", "", "🎉", "lol 🎉🎉 great ☕"]


def test_the_faster_vader_scores_exactly_like_vader() -> None:
    texts = [json.loads(e.payload).get("content", "") for e in simulator_events(400)
             if e.event_type in ("update", "status.update")]
    assert len(texts) > 200
    words = " ".join(texts + TRICKY).split()
    rnd = random.Random(5)
    texts += TRICKY + [" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 90))) for _ in range(500)]
    reference, fast = SentimentIntensityAnalyzer(), _WindowedAnalyzer()
    assert [fast.polarity_scores(t) for t in texts] == [reference.polarity_scores(t) for t in texts]


def test_vader_reads_english_only_and_says_why_not() -> None:
    vader = VaderSentiment()

    def reason(text: str, language: str | None) -> str | None:
        return vader.skip_reason(SentimentItem("i", "1", 1, text, language))

    assert reason("What a lovely day", "en") is None and reason("What a lovely day", "en-GB") is None
    assert reason("Was für ein schöner Tag", "de") == UNSUPPORTED_LANGUAGE
    assert reason("this is what we have been waiting for", None) is None
    assert reason("lol 🎉", None) == UNDETERMINED_LANGUAGE and reason("+1", "und") == UNDETERMINED_LANGUAGE
    assert reason("Das ist ein sehr schöner Tag heute", None) == UNDETERMINED_LANGUAGE
    assert reason("  ", "en") == EMPTY_TEXT
    assert english_only_verdict("EN_us", "x") == "supported"
    [outcome] = vader.score([SentimentItem("i", "1", 1, "I love this!\n\nTerrible weather though", "en")])
    assert outcome.score == SentimentIntensityAnalyzer().polarity_scores(
        "I love this!\n\nTerrible weather though")["compound"]


def test_numbers_must_come_from_the_statistics_or_the_inputs() -> None:
    allowed = allowed_numbers({"post_count": 261, "engagement": {"average": 6.8812}}, ["see #web3 at 9:30"])
    assert ungrounded_numbers("261 posts, average 6.88, #web3 at 9:30", allowed) == []
    assert ungrounded_numbers("There were 1,000,000 posts", allowed) == ["1,000,000"]
    assert standalone_numbers("{post_count} posts about #web3 and p999") == []
    assert standalone_numbers("42% of 1,000 posts") == ["42", "1,000"]


def test_answers_are_validated_against_the_schema() -> None:
    good = {"results": [{"id": "p1", "score": 0.5}]}
    assert validate(good, prompts.SENTIMENT_SCHEMA) == []
    assert validate({"hacked": True}, prompts.SENTIMENT_SCHEMA) == [
        "$: missing required property 'results'", "$: unexpected property 'hacked'"]
    assert validate({"results": [{"id": "p1", "score": True}]}, prompts.SENTIMENT_SCHEMA) == [
        "$.results[0].score: expected number, got boolean"]
    assert validate({"topics": [{"topic": "a", "summary": "b", "post_ids": []}] * 3}, prompts.topics_schema(2)) == [
        "$.topics: more than 2 items"]


def test_retry_schedule_backs_off_and_stops() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    delays = [next_retry_at(now, n, initial_minutes=5, max_minutes=30, max_attempts=5) for n in range(1, 6)]
    assert [d - now if d else None for d in delays] == [timedelta(minutes=m) for m in (5, 10, 20, 30)] + [None]


def test_local_days_and_aware_times() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    window = day_window(date(2026, 10, 25), berlin)  # clocks go back: a 25-hour day
    assert (window.start, window.end - window.start) == (datetime(2026, 10, 24, 22, tzinfo=UTC), timedelta(hours=25))
    with pytest.raises(ValueError, match="timezone-aware"):
        require_aware(datetime(2026, 11, 20, 12), "now")
