"""Offline sentiment: VADER's compound score (−1…1), English only, no network and no key.

VADER's lexicon is English: a German or Japanese post would get a score near 0 that looks like "neutral"
but means "not understood". Such posts are not scored; :meth:`VaderSentiment.skip_reason` gives the reason
recorded instead (see :mod:`enrichment.language` for how posts without a language are judged).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText

from enrichment.language import SUPPORTED, english_only_verdict
from enrichment.providers.base import SentimentItem, SentimentOutcome

EMPTY_TEXT = "empty_text"


class _WindowedAnalyzer(SentimentIntensityAnalyzer):
    """VADER with identical scores, faster (issue 7 asks for thousands of posts a second).

    * VADER's negation and idiom checks lower-case the whole post for every word they look at (quadratic in
      the post's length); they only read the three words before the word scored and the two after it, so
      they are given that window of words, with the word's index within it.
    * Emoji are replaced by their descriptions in a character-by-character loop; a post without emoji skips
      it (the loop would return the text unchanged).
    """

    def __init__(self) -> None:
        super().__init__()
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)

    def polarity_scores(self, text: str) -> dict[str, float]:
        if not self._emoji_chars.isdisjoint(text):
            return super().polarity_scores(text)
        # the rest of SentimentIntensityAnalyzer.polarity_scores (vaderSentiment 3.3.2), unchanged
        text = text.strip()
        sentitext = SentiText(text)
        sentiments: list[float] = []
        words_and_emoticons = sentitext.words_and_emoticons
        for i, item in enumerate(words_and_emoticons):
            valence = 0
            if item.lower() in BOOSTER_DICT:
                sentiments.append(valence)
                continue
            if (i < len(words_and_emoticons) - 1 and item.lower() == "kind"
                    and words_and_emoticons[i + 1].lower() == "of"):
                sentiments.append(valence)
                continue
            sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        return self.score_valence(sentiments, text)

    @staticmethod
    def _negation_check(valence: float, words_and_emoticons: list[str], start_i: int, i: int) -> float:
        start = max(0, i - 3)
        return SentimentIntensityAnalyzer._negation_check(valence, words_and_emoticons[start:i + 1], start_i,
                                                          i - start)

    @staticmethod
    def _special_idioms_check(valence: float, words_and_emoticons: list[str], i: int) -> float:
        start = max(0, i - 3)
        return SentimentIntensityAnalyzer._special_idioms_check(valence, words_and_emoticons[start:i + 3],
                                                                i - start)


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
        self._analyzer = _WindowedAnalyzer()

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
