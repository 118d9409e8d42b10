"""Realistic raw rows for the dbt tests: Mastodon Status payloads and raw.stream_events rows.

Statuses are built the way Mastodon 4.x serialises them (HTML content with h-card mentions, hashtag links,
invisible/ellipsis link spans; accounts with acct = username for local accounts, username@domain for remote
ones). Rows follow the raw contract in extract/raw_schema.py; event ids are computed like the extractor's
(sha256 over instance, source, event type and the canonical payload), so a re-delivered event has the same id.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2.extensions
from psycopg2.extras import Json, execute_values

BASE_TIME = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def ts(minutes: float) -> datetime:
    """A point in time ``minutes`` after the fixtures' base time."""
    return BASE_TIME + timedelta(minutes=minutes)


def iso(moment: datetime) -> str:
    """Mastodon's timestamp format: 2026-11-20T12:00:00.000Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- HTML as Mastodon renders it ------------------------------------------------------------------------

def mention_html(profile_url: str, username: str) -> str:
    return (f'<span class="h-card" translate="no"><a href="{profile_url}" class="u-url mention">'
            f"@<span>{username}</span></a></span>")


def hashtag_html(domain: str, name: str) -> str:
    return f'<a href="https://{domain}/tags/{name}" class="mention hashtag" rel="tag">#<span>{name}</span></a>'


def link_html(url: str) -> str:
    scheme, rest = url.split("://", 1)
    shown, hidden = rest[:30], rest[30:]
    return (f'<a href="{url}" target="_blank" rel="nofollow noopener" translate="no">'
            f'<span class="invisible">{scheme}://</span>'
            f'<span class="{"ellipsis" if hidden else ""}">{shown}</span>'
            f'<span class="invisible">{hidden}</span></a>')


# -- entities -------------------------------------------------------------------------------------------

def account(account_id: str, username: str, domain: str | None, *, home: str = "mastodon.social",
            display_name: str | None = None, bot: bool = False, note: str = "<p>hi</p>",
            followers: int = 10) -> dict[str, Any]:
    """An Account; ``domain`` None means local to the instance that serves it."""
    acct = username if domain is None else f"{username}@{domain}"
    host = home if domain is None else domain
    return {
        "id": account_id, "username": username, "acct": acct,
        "display_name": display_name if display_name is not None else username.title(),
        "locked": False, "bot": bot, "discoverable": True, "indexable": True, "group": False,
        "created_at": "2022-11-01T00:00:00.000Z", "note": note,
        "url": f"https://{host}/@{username}", "uri": f"https://{host}/users/{username}",
        "avatar": f"https://{host}/avatars/{username}.png",
        "followers_count": followers, "following_count": 5, "statuses_count": 42,
        "last_status_at": "2026-11-19", "emojis": [], "fields": [],
    }


def mention_entity(acc: dict[str, Any]) -> dict[str, Any]:
    return {"id": acc["id"], "username": acc["username"], "url": acc["url"], "acct": acc["acct"]}


def status(status_id: str, acc: dict[str, Any], content: str, *, created: datetime,
           edited: datetime | None = None, uri: str | None = None, tags: list[str] = (),
           mentions: list[dict[str, Any]] = (), spoiler: str = "", sensitive: bool = False,
           counts: tuple[int, int, int] = (0, 0, 0), in_reply_to: tuple[str, str] | None = None,
           media: list[dict[str, Any]] = (), language: str | None = "en",
           home: str = "mastodon.social") -> dict[str, Any]:
    """A Status; ``counts`` = (replies, reblogs, favourites)."""
    replies, reblogs, favourites = counts
    return {
        "id": status_id,
        "created_at": iso(created),
        "in_reply_to_id": in_reply_to[0] if in_reply_to else None,
        "in_reply_to_account_id": in_reply_to[1] if in_reply_to else None,
        "sensitive": sensitive, "spoiler_text": spoiler, "visibility": "public", "language": language,
        "uri": uri or f"https://{home}/users/{acc['username']}/statuses/{status_id}",
        "url": f"https://{home}/@{acc['username']}/{status_id}",
        "replies_count": replies, "reblogs_count": reblogs, "favourites_count": favourites,
        "quotes_count": 0, "edited_at": iso(edited) if edited else None,
        "content": content, "reblog": None, "application": {"name": "Web", "website": None},
        "account": acc, "media_attachments": list(media),
        "mentions": [mention_entity(m) for m in mentions],
        "tags": [{"name": t.lower(), "url": f"https://{home}/tags/{t.lower()}"} for t in tags],
        "emojis": [], "card": None, "poll": None,
    }


def media(media_id: str, *, description: str = "a cat on a keyboard") -> dict[str, Any]:
    return {"id": media_id, "type": "image", "url": f"https://files.example/{media_id}.png",
            "preview_url": f"https://files.example/{media_id}_small.png", "remote_url": None,
            "description": description, "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
            "meta": {"original": {"width": 640, "height": 480}}}


# -- raw rows -------------------------------------------------------------------------------------------

@dataclass
class RawEvents:
    """Builds raw.stream_events rows; each ``load()`` call is one dlt load (its own, increasing load id)."""

    rows: list[tuple] = field(default_factory=list)
    load_number: int = 0

    def _event_id(self, instance_id: str, source: str, event_type: str, canonical: str) -> str:
        return hashlib.sha256(f"{instance_id}\x1f{source}\x1f{event_type}\x1f{canonical}".encode()).hexdigest()

    def add(self, event_type: str, payload: Any, *, at: datetime, instance_id: str = "mastodon.social",
            source: str = "stream", stream: str | None = None, status_id: str | None = None,
            error: str | None = None, escaped_text: str | None = None) -> str:
        """Add one event; ``payload`` is the parsed JSON (or None with ``escaped_text`` for a bad payload)."""
        instance_url = ("http://" if instance_id.startswith("127.") else "https://") + instance_id
        if stream is None:
            stream = "public:local" if source == "stream" else "/api/v1/timelines/public"
        if escaped_text is not None:
            stored: Any = escaped_text
            canonical = escaped_text
            raw_b64 = base64.b64encode(escaped_text.encode()).decode()
            escaped = True
        else:
            stored = payload
            canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
            raw_b64 = None
            escaped = False
        if status_id is None:
            if isinstance(payload, dict):
                status_id = payload.get("id")
            elif isinstance(payload, str):
                status_id = payload
        event_id = self._event_id(instance_id, source, event_type, canonical)
        self.rows.append((event_id, instance_id, instance_url, stream, source, event_type, at, stored,
                          status_id, error, escaped, raw_b64))
        return event_id

    def load(self, conn: psycopg2.extensions.connection) -> int:
        """Insert the rows added since the last load as one dlt load; returns the number of rows."""
        self.load_number += 1
        load_id = f"{int(BASE_TIME.timestamp()) + 3600 * self.load_number}.{self.load_number:06d}"
        batch_key = f"batch-{self.load_number}"
        values = [(*row[:7], Json(row[7]), *row[8:], batch_key, load_id) for row in self.rows]
        with conn, conn.cursor() as cur:
            execute_values(cur, """
                insert into raw.stream_events (event_id, instance_id, instance_url, stream, source, event_type,
                    received_at, payload, payload_status_id, payload_error, payload_escaped, payload_raw_base64,
                    batch_key, _dlt_load_id) values %s""", values)
        count = len(self.rows)
        self.rows = []
        return count


def prepare_sources(conn: psycopg2.extensions.connection) -> None:
    """Create the tables dbt declares as sources beyond raw (Warehouse.bootstrap creates raw): the
    enrichment schema's, so `dbt build` finds them before enrichment has ever run."""
    from enrichment.schema import ensure_schema

    ensure_schema(conn)
    conn.commit()


def insert_instance(conn: psycopg2.extensions.connection, instance_id: str, *, at: datetime,
                    streams: list[str], live_feeds: str = "public", load_number: int = 1) -> None:
    instance_url = ("http://" if instance_id.startswith("127.") else "https://") + instance_id
    access = {"live_feeds": {"local": live_feeds, "remote": live_feeds},
              "hashtag_feeds": {"local": "public", "remote": "public"}}
    doc = {"domain": instance_id, "title": f"{instance_id} title", "version": "4.5.0",
           "configuration": {"urls": {"streaming": f"wss://{instance_id}"}, "timelines_access": access}}
    load_id = f"{int(BASE_TIME.timestamp()) + 3600 * load_number}.000000"
    with conn, conn.cursor() as cur:
        cur.execute("""
            insert into raw.instances (instance_id, instance_url, api_version, software_version, title,
                streaming_url, streams, timelines_access, payload, observed_at, _dlt_load_id)
            values (%s, %s, 'v2', '4.5.0', %s, %s, %s, %s, %s, %s, %s)""",
                    (instance_id, instance_url, doc["title"], f"wss://{instance_id}", Json(streams), Json(access),
                     Json(doc), at, load_id))
