"""The statistics of one instance and day window, computed in SQL from marts and enrichment results.

A day's posts are the posts created in the window that are neither deleted nor reblogs (``marts.posts``).
Sentiment is that of each post's current version: the best result stored for it (scored before skipped
before failed, then the newest). The statistics are what ``daily_summaries.input_stats_json`` keeps and the
only source of numbers in a summary; the top posts' texts go to the provider but are not kept in the JSON
(a post deleted later must not survive in a summary's inputs).
"""

from __future__ import annotations

from typing import Any

import psycopg2.extensions

from enrichment.grounding import allowed_numbers, format_number
from enrichment.providers.base import PostText
from enrichment.windows import Window

# The best result of each post's current version, for the posts of the CTE named by {posts} only (index
# lookups per post: the cost follows the window's posts, not the warehouse's).
CURRENT_SENTIMENT_SQL = """
    select distinct on (s.instance_id, s.post_id)
        s.instance_id, s.post_id, s.status, s.sentiment_score, s.sentiment_label, s.skip_reason
    from enrichment.post_sentiments as s
    inner join marts.post_versions as v
        on v.instance_id = s.instance_id and v.post_id = s.post_id and v.version_seq = s.status_version_seq
    where v.is_current and s.instance_id = %(instance_id)s
      and s.post_id in (select w.post_id from {posts} as w)
    order by s.instance_id, s.post_id,
        case s.status when 'scored' then 0 when 'skipped' then 1 else 2 end, s.analyzed_at desc nulls last
"""

# An author who opted out (raw.account_consent, recorded by the loader) is never named in a summary, nor linked.
_OPTED_OUT = ("exists (select 1 from raw.account_consent as author where author.instance_id = p.instance_id "
              "and author.account_id = p.account_id and author.consent_status = 'opted_out')")
_DAY_POSTS = """
    day_posts as (
        select p.*
        from marts.posts as p
        where p.instance_id = %(instance_id)s and p.created_at >= %(start)s and p.created_at < %(end)s
          and p.deleted_at is null and not p.is_reblog
    ),
    sentiment as (""" + CURRENT_SENTIMENT_SQL.format(posts="day_posts") + """)
"""


def _fetch(cur: psycopg2.extensions.cursor, query: str, params: dict[str, Any]) -> list[tuple]:
    cur.execute(query, params)
    return cur.fetchall()


def compute_day_stats(conn: psycopg2.extensions.connection, instance_id: str, window: Window, *,
                      time_zone: str, top_posts: int, top_hashtags: int,
                      max_post_chars: int) -> tuple[dict[str, Any], tuple[PostText, ...]]:
    """The day's statistics and the texts of its top posts (most engaging first)."""
    params = {"instance_id": instance_id, "start": window.start, "end": window.end,
              "previous_start": window.start - (window.end - window.start), "top_posts": top_posts,
              "top_hashtags": top_hashtags}
    with conn, conn.cursor() as cur:
        overview = _fetch(cur, "with " + _DAY_POSTS + """
            select count(*), count(*) filter (where p.is_reply), count(distinct p.account_id),
                   coalesce(sum(p.engagement_score), 0), coalesce(avg(p.engagement_score), 0),
                   coalesce(sum(p.reblogs_count), 0), coalesce(sum(p.favourites_count), 0),
                   coalesce(sum(p.replies_count), 0),
                   count(*) filter (where s.status = 'scored'),
                   count(*) filter (where s.sentiment_label = 'positive'),
                   count(*) filter (where s.sentiment_label = 'neutral'),
                   count(*) filter (where s.sentiment_label = 'negative'),
                   avg(s.sentiment_score) filter (where s.status = 'scored'),
                   count(*) filter (where s.status = 'skipped'),
                   count(*) filter (where s.status = 'failed'),
                   count(*) filter (where s.post_id is null)
            from day_posts as p
            left join sentiment as s on s.post_id = p.post_id""", params)[0]
        skip_reasons = _fetch(cur, "with " + _DAY_POSTS + """
            select s.skip_reason, count(*) from day_posts as p
            join sentiment as s on s.post_id = p.post_id
            where s.status = 'skipped' group by 1 order by 2 desc, 1""", params)
        hashtags = _fetch(cur, "with " + _DAY_POSTS + """
            select tag.name, count(distinct p.post_id), count(distinct p.account_id)
            from day_posts as p
            cross join lateral jsonb_array_elements_text(
                case when jsonb_typeof(p.hashtags) = 'array' then p.hashtags else '[]'::jsonb end) as tag (name)
            group by 1 order by 2 desc, 3 desc, 1 limit %(top_hashtags)s""", params)
        trending = _fetch(cur, """
            with uses as (
                select lower(tag.name) as tag, p.created_at >= %(start)s as is_today, p.post_id
                from marts.posts as p
                cross join lateral jsonb_array_elements_text(
                    case when jsonb_typeof(p.hashtags) = 'array' then p.hashtags else '[]'::jsonb end) as tag (name)
                where p.instance_id = %(instance_id)s and p.created_at >= %(previous_start)s
                  and p.created_at < %(end)s and p.deleted_at is null and not p.is_reblog
            ),
            counts as (
                select tag, count(distinct post_id) filter (where is_today) as today,
                       count(distinct post_id) filter (where not is_today) as previous
                from uses group by tag
            )
            select tag, today, previous from counts
            where today >= 2 and today > previous
            order by today - previous desc, today desc, tag limit %(top_hashtags)s""", params)
        languages = _fetch(cur, "with " + _DAY_POSTS + """
            select coalesce(nullif(p.language, ''), 'und'), count(*) from day_posts as p
            group by 1 order by 2 desc, 1""", params)
        top = _fetch(cur, "with " + _DAY_POSTS + """
            select p.post_id, case when """ + _OPTED_OUT + """ then null else p.account_acct end,
                   case when """ + _OPTED_OUT + """ then null else p.url end,
                   p.engagement_score, p.replies_count, p.reblogs_count,
                   p.favourites_count, s.sentiment_label, s.sentiment_score, p.language, p.hashtags,
                   concat_ws(E'\n\n', nullif(p.spoiler_text, ''), p.content_text), p.created_at
            from day_posts as p
            left join sentiment as s on s.post_id = p.post_id
            order by p.engagement_score desc, p.created_at, p.post_id
            limit %(top_posts)s""", params)
    (post_count, reply_count, authors, engagement_total, engagement_avg, reblogs, favourites, replies, scored,
     positive, neutral, negative, average_score, skipped, failed, pending) = overview
    stats: dict[str, Any] = {
        "instance_id": instance_id,
        "day": window.label,
        "time_zone": time_zone,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "post_count": int(post_count),
        "reply_count": int(reply_count),
        "unique_authors": int(authors),
        "engagement": {"total": round(float(engagement_total), 2), "average": round(float(engagement_avg), 2),
                       "reblogs": int(reblogs), "favourites": int(favourites), "replies": int(replies)},
        "sentiment": {"scored": int(scored), "positive": int(positive), "neutral": int(neutral),
                      "negative": int(negative),
                      "average_score": round(float(average_score), 3) if average_score is not None else None,
                      "skipped": int(skipped), "skip_reasons": {str(r): int(n) for r, n in skip_reasons},
                      "failed": int(failed), "not_yet_analysed": int(pending)},
        "top_hashtags": [{"tag": t, "post_count": int(n), "unique_authors": int(a)} for t, n, a in hashtags],
        "languages": [{"language": lang, "post_count": int(n)} for lang, n in languages],
        "trending_tags": [{"tag": t, "post_count": int(n), "previous_day_post_count": int(prev)}
                          for t, n, prev in trending],
        "top_posts": [{"post_id": r[0], "author": r[1], "url": r[2], "engagement_score": float(r[3]),
                       "replies": int(r[4]), "reblogs": int(r[5]), "favourites": int(r[6]),
                       "sentiment_label": r[7]} for r in top],
    }
    posts = tuple(PostText(post_id=r[0], text=(r[11] or "")[:max_post_chars], author=r[1],
                           hashtags=tuple(r[10] or ()), language=r[9], engagement=float(r[3]),
                           sentiment_score=r[8]) for r in top)
    return stats, posts


def placeholder_values(stats: dict[str, Any]) -> dict[str, str]:
    """The placeholders an LLM may write in a summary, with the formatted statistics they stand for."""
    sentiment = stats["sentiment"]
    engagement = stats["engagement"]
    scored = sentiment["scored"]
    share = (lambda n: format_number(round(100 * n / scored))) if scored else (lambda n: "0")
    return {
        "post_count": format_number(stats["post_count"]),
        "reply_count": format_number(stats["reply_count"]),
        "unique_authors": format_number(stats["unique_authors"]),
        "total_engagement": format_number(engagement["total"]),
        "average_engagement": format_number(engagement["average"]),
        "scored_count": format_number(scored),
        "positive_count": format_number(sentiment["positive"]),
        "neutral_count": format_number(sentiment["neutral"]),
        "negative_count": format_number(sentiment["negative"]),
        "positive_percent": share(sentiment["positive"]),
        "negative_percent": share(sentiment["negative"]),
        "average_sentiment": format_number(sentiment["average_score"] or 0),
    }


def grounded_numbers(stats: dict[str, Any], posts: tuple[PostText, ...]) -> frozenset[str]:
    """Every number a summary of this day may contain (statistics, placeholders, numbers in the inputs)."""
    texts = [p.text for p in posts] + [" ".join(p.hashtags) for p in posts] + [p.author or "" for p in posts]
    return frozenset(allowed_numbers({**stats, "placeholders": placeholder_values(stats)}, texts))
