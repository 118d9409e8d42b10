"""Offline daily summary: sentences assembled from the day's statistics and quotes of its top posts.

Nothing is generated: every number is a statistic (formatted with :func:`enrichment.grounding.format_number`),
every quote is the beginning of a real post. Trending topics are the day's trending hashtags (more uses than
the day before), or its most used hashtags when none is rising; notable events are its most engaging posts.
"""

from __future__ import annotations

from typing import Any

from enrichment.grounding import format_number as num
from enrichment.providers.base import DayInput, PostText, SummaryOutcome

QUOTE_CHARS = 140


def _quote(text: str) -> str:
    """The beginning of ``text``, cut at a word boundary (a cut number would be a number the post never had)."""
    flat = " ".join(text.split())
    if len(flat) <= QUOTE_CHARS:
        return flat
    cut = flat[: QUOTE_CHARS - 1]
    if " " in cut and not flat[QUOTE_CHARS - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"


def _plural(count: int | float, word: str) -> str:
    return f"{num(count)} {word}{'' if count == 1 else 's'}"


class ExtractiveSummary:
    """The offline summary provider."""

    name = "offline"
    model = "forkalytics-extractive"
    prompt_version = "extractive-summary-v1"

    def summarise(self, day: DayInput) -> SummaryOutcome:
        stats = day.stats
        sentences = [self._activity(day, stats), self._sentiment(stats)]
        tags = stats.get("top_hashtags") or []
        if tags:
            listed = ", ".join(f"#{t['tag']} ({num(t['post_count'])})" for t in tags[:5])
            sentences.append(f"Most used hashtags: {listed}.")
        languages = stats.get("languages") or []
        if len(languages) > 1:
            listed = ", ".join(f"{lang['language']} ({num(lang['post_count'])})" for lang in languages[:4])
            sentences.append(f"Languages: {listed}.")
        top = self._top_post(day)
        if top is not None:
            post, info = top
            sentences.append(f"The most engaging post, by @{post.author or 'unknown'} (engagement "
                             f"{num(info['engagement_score'])}): “{_quote(post.text)}”")
        summary = " ".join(s for s in sentences if s)
        trending = [f"#{t['tag']}" for t in stats.get("trending_tags") or []][:8]
        if not trending:
            trending = [f"#{t['tag']}" for t in tags[:5]]
        events = self._events(day)
        return SummaryOutcome(summary_text=summary, trending_topics=trending, notable_events=events)

    @staticmethod
    def _activity(day: DayInput, stats: dict[str, Any]) -> str:
        engagement = stats.get("engagement", {})
        text = (f"On {day.day_label} ({day.time_zone}), {day.instance_id} had {_plural(stats['post_count'], 'post')} "
                f"from {_plural(stats['unique_authors'], 'author')}")
        if stats.get("reply_count"):
            text += f", {num(stats['reply_count'])} of them replies"
        return (text + f", with a total engagement of {num(engagement.get('total', 0))} "
                f"(average {num(engagement.get('average', 0))} per post).")

    @staticmethod
    def _sentiment(stats: dict[str, Any]) -> str:
        sentiment = stats.get("sentiment", {})
        scored = sentiment.get("scored", 0)
        if not scored:
            return "No post of the day has a sentiment score yet."
        text = (f"Of the {_plural(scored, 'scored post')}, {num(sentiment.get('positive', 0))} were positive, "
                f"{num(sentiment.get('neutral', 0))} neutral and {num(sentiment.get('negative', 0))} negative "
                f"(average score {num(sentiment.get('average_score') or 0)})")
        skipped = sentiment.get("skipped", 0)
        if skipped:
            text += f"; {num(skipped)} could not be scored (language or empty text)"
        return text + "."

    @staticmethod
    def _top_post(day: DayInput) -> tuple[PostText, dict[str, Any]] | None:
        info = {p["post_id"]: p for p in day.stats.get("top_posts") or []}
        for post in day.posts:
            if post.post_id in info and post.text.strip():
                return post, info[post.post_id]
        return None

    @staticmethod
    def _events(day: DayInput) -> list[str]:
        info = {p["post_id"]: p for p in day.stats.get("top_posts") or []}
        events = []
        for post in day.posts:
            details = info.get(post.post_id)
            if details is None or not post.text.strip() or not details.get("engagement_score"):
                continue
            events.append(f"@{post.author or 'unknown'}: “{_quote(post.text)}” (engagement "
                          f"{num(details['engagement_score'])}: {num(details['favourites'])} favourites, "
                          f"{num(details['reblogs'])} boosts, {num(details['replies'])} replies)")
            if len(events) == 3:
                break
        return events
