"""Offline sentiment: VADER's compound score (−1…1), English only, no network and no key.

VADER's lexicon is English: a German or Japanese post would get a score near 0 that looks like "neutral"
but means "not understood". Such posts are not scored; :meth:`VaderSentiment.skip_reason` gives the reason
recorded instead (see :mod:`enrichment.language` for how posts without a language are judged).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from enrichment.language import SUPPORTED, english_only_verdict
from enrichment.providers.base import SentimentItem, SentimentOutcome

EMPTY_TEXT = "empty_text"


def _vader_version() -> str:
    try:
        return version("vaderSentiment")
    except PackageNotFoundError:  # pragma: no cover - the package is a dependency
        return "unknown"


class VaderSentiment:
    """The offline sentiment provider."""

    name = "offline"
    prompt_version = "vader-compound-v1"

    def __init__(self) -> None:
        self.model = f"vader-{_vader_version()}"
        self._analyzer = SentimentIntensityAnalyzer()

    def skip_reason(self, item: SentimentItem) -> str | None:
        if not item.text.strip():
            return EMPTY_TEXT
        verdict = english_only_verdict(item.language, item.text)
        return None if verdict == SUPPORTED else verdict

    def score(self, items: Sequence[SentimentItem]) -> list[SentimentOutcome]:
        outcomes = []
        for item in items:
            try:
                compound = float(self._analyzer.polarity_scores(item.text)["compound"])
            except Exception as exc:  # noqa: BLE001 - one bad text must not stop the batch
                outcomes.append(SentimentOutcome(error=f"VADER failed: {type(exc).__name__}: {exc}"))
                continue
            outcomes.append(SentimentOutcome(score=max(-1.0, min(1.0, compound)), request_post_count=1))
        return outcomes
