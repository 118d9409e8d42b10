"""Offline hourly topics: hashtags and terms that several posts share, grouped when they co-occur.

1. Every hashtag used by at least ``min_posts`` posts of the hour is a seed, most used first; a hashtag whose
   posts overlap an existing topic's posts by at least half (Jaccard index) joins that topic instead.
2. Content terms (words of four letters or more that are not common English function words, mentions, links
   or hashtags) used by at least ``min_posts`` posts then do the same, so hours without hashtags get topics too.
3. A topic's summary names its hashtags and the terms that recur in its posts; its posts are those using any
   of its hashtags or terms. The task counts them and computes their average sentiment.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from enrichment.language import ENGLISH_FUNCTION_WORDS
from enrichment.providers.base import HourInput, ProposedTopic, TopicsOutcome

_NOISE = re.compile(r"https?://\S+|[@#][\w.@-]+|\S+\.\S+/\S*", re.UNICODE)
_TERM = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
EXTRA_STOPWORDS = frozenset((
    "about", "again", "already", "also", "always", "another", "because", "before", "being", "cannot", "could",
    "every", "first", "from", "going", "have", "here", "just", "know", "like", "made", "make", "many", "more",
    "most", "much", "never", "only", "other", "over", "really", "same", "should", "since", "some", "still",
    "than", "that", "their", "them", "then", "there", "these", "they", "thing", "things", "think", "this",
    "those", "though", "through", "today", "very", "what", "when", "where", "which", "while", "will", "with",
    "would", "your", "yours", "been", "were", "does", "doing", "done",
))
JACCARD_TO_MERGE = 0.5


def terms_of(text: str) -> set[str]:
    """The content terms of a post (lower case)."""
    words = _TERM.findall(_NOISE.sub(" ", text).lower())
    return {w for w in words if w not in ENGLISH_FUNCTION_WORDS and w not in EXTRA_STOPWORDS}


@dataclass
class _Topic:
    tags: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    posts: set[str] = field(default_factory=set)

    def label(self) -> str:
        parts = [f"#{t}" for t in self.tags[:3]] or [f"“{t}”" for t in self.terms[:2]]
        return " + ".join(parts)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class CooccurrenceTopics:
    """The offline topic provider."""

    name = "offline"
    model = "forkalytics-cooccurrence"
    prompt_version = "cooccurrence-topics-v1"

    def __init__(self, *, min_posts: int = 2) -> None:
        self.min_posts = min_posts

    def find_topics(self, hour: HourInput, *, max_topics: int) -> TopicsOutcome:
        tag_posts: dict[str, set[str]] = {}
        term_posts: dict[str, set[str]] = {}
        post_terms: dict[str, set[str]] = {}
        for post in hour.posts:
            tags = {t.lower() for t in post.hashtags}
            for tag in tags:
                tag_posts.setdefault(tag, set()).add(post.post_id)
            terms = terms_of(post.text) - tags
            post_terms[post.post_id] = terms
            for term in terms:
                term_posts.setdefault(term, set()).add(post.post_id)
        topics: list[_Topic] = []
        for kind, groups in (("tags", tag_posts), ("terms", term_posts)):
            seeds = sorted((k for k, v in groups.items() if len(v) >= self.min_posts),
                           key=lambda k: (-len(groups[k]), k))
            for key in seeds:
                posts = groups[key]
                home = next((t for t in topics if _jaccard(t.posts, posts) >= JACCARD_TO_MERGE), None)
                if home is None:
                    if len(topics) >= max_topics:
                        continue
                    home = _Topic()
                    topics.append(home)
                getattr(home, kind).append(key)
                home.posts |= posts
        proposed = []
        for topic in topics:
            recurring = Counter(term for pid in topic.posts for term in post_terms.get(pid, ()))
            related = [t for t, n in recurring.most_common() if n >= self.min_posts and t not in topic.terms][:3]
            proposed.append(ProposedTopic(topic=topic.label(), summary=self._summary(topic, related),
                                          post_ids=tuple(sorted(topic.posts))))
        return TopicsOutcome(proposed)

    @staticmethod
    def _summary(topic: _Topic, related: list[str]) -> str:
        subject = " and ".join([f"#{t}" for t in topic.tags] + [f"“{t}”" for t in topic.terms][:4])
        words = ", ".join(f"“{t}”" for t in related)
        count = len(topic.posts)
        text = f"{count} post{'' if count == 1 else 's'} about {subject}"
        return text + (f", often mentioning {words}." if words else ".")
