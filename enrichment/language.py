"""Which posts an English-only scorer may read.

Mastodon posts carry the language their author (or client) declared. A post declared as English (``en``,
``en-GB``...) is English. A post declared as another language is not. A post with no language (``null``, or
``und``) is English only when its words say so: at least three words, most of them Latin letters, and at
least a fifth of them common English function words ("the", "and", "is", ...). Short or emoji-only posts
("lol", "🎉🎉🎉", "+1") are therefore *undetermined*, and get a recorded skip reason rather than a score an
English lexicon would make up for them.
"""

from __future__ import annotations

import re

ENGLISH_FUNCTION_WORDS = frozenset((
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "here",
    "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "more", "my", "no", "not",
    "now", "of", "on", "one", "only", "or", "our", "out", "so", "some", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "to", "up", "us", "was", "we", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "would", "you", "your", "i'm", "it's", "don't", "can't", "that's",
))
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_NOISE = re.compile(r"https?://\S+|[@#][\w.@-]+", re.UNICODE)
MIN_WORDS = 3
MIN_FUNCTION_WORD_SHARE = 0.2

SUPPORTED = "supported"
UNSUPPORTED_LANGUAGE = "unsupported_language"
UNDETERMINED_LANGUAGE = "undetermined_language"


def is_english_tag(language: str | None) -> bool:
    """True for ``en`` and its regional variants (``en-US``, ``en_GB``)."""
    return bool(language) and re.split(r"[-_]", language.strip().lower())[0] == "en"


def looks_english(text: str) -> bool:
    """The heuristic above, for posts that declare no language."""
    words = [w.lower() for w in _WORD.findall(_NOISE.sub(" ", text))]
    if len(words) < MIN_WORDS:
        return False
    latin = sum(1 for w in words if all("a" <= ch <= "z" or ch == "'" for ch in w))
    if latin / len(words) < 0.8:
        return False
    function_words = sum(1 for w in words if w in ENGLISH_FUNCTION_WORDS)
    return function_words / len(words) >= MIN_FUNCTION_WORD_SHARE


def english_only_verdict(language: str | None, text: str) -> str:
    """``supported`` when an English-only scorer may read the post, else the skip reason."""
    if is_english_tag(language):
        return SUPPORTED
    if language is None or language.strip().lower() in ("", "und"):
        return SUPPORTED if looks_english(text) else UNDETERMINED_LANGUAGE
    return UNSUPPORTED_LANGUAGE
