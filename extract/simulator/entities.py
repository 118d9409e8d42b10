"""Mastodon API entities (Account, Status, StatusEdit, Tag) rendered from simulator records.

Rendering is a pure function of the records and an event sequence number, so the same status can
be shown as it was when an event went out, as REST shows it now, or as a ground-truth snapshot
saw it.

Wire encodings differ on purpose, as on a real instance: the streaming server re-serialises
payloads with ``JSON.stringify`` (compact, UTF-8, nothing escaped beyond what JSON requires),
while the Rails REST API escapes ``<``, ``>``, ``&`` and the U+2028/U+2029 separators as
``\\uXXXX`` (non-ASCII text stays raw UTF-8 in both).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

from .accounts import AccountRecord, Directory
from .ids import iso_ms, midnight_iso
from .records import StatusRecord, Version

_REST_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                               "\u2029": "\\u2029"})


def stream_json(value: Any) -> str:
    """Encode like the streaming server (``JSON.stringify``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def rest_json(value: Any) -> str:
    """Encode like the Rails API (``ActiveSupport::JSON`` with HTML-entity escaping)."""
    return stream_json(value).translate(_REST_ESCAPES)


def tag_url(instance_domain: str, name: str) -> str:
    """The Tag entity's ``url``: the tag page on the instance serving the API."""
    return f"https://{instance_domain}/tags/{quote(name.lower())}"


class Renderer:
    """Turns records into API entities as of a given event sequence number."""

    def __init__(self, directory: Directory, statuses: dict[int, StatusRecord]) -> None:
        self.directory = directory
        self.domain = directory.instance_domain
        self.statuses = statuses

    # Accounts -------------------------------------------------------------------------------

    def account(self, account: AccountRecord, seq: int) -> dict[str, Any]:
        """The Account entity, counts as of event ``seq``."""
        count = account.base_statuses_count
        last_day = account.last_status_day
        for status_id in account.status_ids:
            record = self.statuses.get(status_id)
            if record is None or record.published_seq > seq:
                continue
            day = record.created_at.date()
            if last_day is None or day > last_day:
                last_day = day
            if not record.deleted_by(seq):
                count += 1
        entity: dict[str, Any] = {
            "id": str(account.id),
            "username": account.username,
            "acct": account.acct(),
            "display_name": account.display_name,
            "locked": account.locked,
            "bot": account.bot,
            "discoverable": account.discoverable,
            "indexable": account.indexable,
            "group": account.group,
            "created_at": midnight_iso(account.created_day),
            "note": account.note,
            "url": account.profile_url(self.domain),
            "uri": account.actor_uri(self.domain),
            "avatar": account.avatar,
            "avatar_static": account.avatar,
            "header": account.header,
            "header_static": account.header,
            "followers_count": account.followers_count,
            "following_count": account.following_count,
            "statuses_count": count,
            "last_status_at": last_day.isoformat() if last_day else None,
            "hide_collections": False,
        }
        if account.local:
            entity["noindex"] = (not account.indexable) if account.noindex is None else account.noindex
        entity["emojis"] = account.emojis
        if account.local:
            entity["roles"] = []
        entity["fields"] = account.fields
        return entity

    def credential_account(self, account: AccountRecord, seq: int) -> dict[str, Any]:
        """``verify_credentials``: the Account plus its ``source`` and ``role``."""
        entity = self.account(account, seq)
        entity["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "en",
            "note": "Reads public timelines for analytics.",
            "fields": [],
            "follow_requests_count": 0,
            "hide_collections": False,
            "discoverable": False,
            "indexable": False,
            "attribution_domains": [],
        }
        entity["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return entity

    # Statuses -------------------------------------------------------------------------------

    def counts(self, record: StatusRecord, seq: int) -> dict[str, int]:
        """Engagement counts as of event ``seq`` (frozen at deletion for deleted statuses)."""
        if record.deleted_seq is not None:
            seq = min(seq, record.deleted_seq)
        age = seq - record.published_seq + record.popularity.head_start
        pop = record.popularity
        known_replies = 0
        for reply_id in record.reply_ids:
            reply = self.statuses.get(reply_id)
            if reply is not None and reply.exists_at(seq):
                known_replies += 1
        return {
            "replies_count": known_replies + pop.grown(pop.extra_replies_max, age),
            "reblogs_count": pop.grown(pop.reblogs_max, age),
            "favourites_count": pop.grown(pop.favourites_max, age),
            "quotes_count": pop.grown(pop.quotes_max, age),
        }

    def status(self, record: StatusRecord, seq: int, now: dt.datetime) -> dict[str, Any]:
        """The Status entity as of event ``seq``."""
        version = record.version_at(seq)
        account = self.directory.get(record.account_id)
        counts = self.counts(record, seq)
        entity: dict[str, Any] = {
            "id": str(record.id),
            "created_at": iso_ms(record.created_at),
            "in_reply_to_id": _opt_str(record.in_reply_to_id),
            "in_reply_to_account_id": _opt_str(record.in_reply_to_account_id),
            "sensitive": version.sensitive,
            "spoiler_text": version.spoiler_text,
            "visibility": record.visibility,
            "language": record.language,
            "uri": record.uri,
            "url": record.url,
            **counts,
            "edited_at": iso_ms(version.at) if version is not record.versions[0] else None,
            "content": version.content,
            "reblog": None,
        }
        if record.application is not None:
            entity["application"] = record.application
        entity.update(
            {
                "account": self.account(account, seq),
                "media_attachments": version.media,
                "mentions": [self.mention(i) for i in version.mention_ids],
                "tags": self.tags(version),
                "emojis": version.emojis,
                "quote": None,
                "card": record.card,
                "poll": self.poll(record, version, seq, now),
            }
        )
        return entity

    def mention(self, account_id: int) -> dict[str, str]:
        account = self.directory.get(account_id)
        return {
            "id": str(account.id),
            "username": account.username,
            "url": account.profile_url(self.domain),
            "acct": account.acct(),
        }

    def tags(self, version: Version) -> list[dict[str, str]]:
        seen: list[str] = []
        for display in version.tags:
            name = display.lower()
            if name not in seen:
                seen.append(name)
        return [{"name": name, "url": tag_url(self.domain, name)} for name in seen]

    def poll(self, record: StatusRecord, version: Version, seq: int, now: dt.datetime) -> dict[str, Any] | None:
        poll = record.poll
        if poll is None or version.poll_options is None:
            return None
        age = min(seq, record.deleted_seq or seq) - record.published_seq + record.popularity.head_start
        voters = record.popularity.grown(poll.voters_max, age)
        votes = [int(voters * w) for w in poll.weights]
        options = [{"title": t, "votes_count": v} for t, v in zip(version.poll_options, votes, strict=False)]
        return {
            "id": str(poll.id),
            "expires_at": iso_ms(poll.expires_at),
            "expired": now >= poll.expires_at,
            "multiple": poll.multiple,
            "votes_count": sum(o["votes_count"] for o in options),
            "voters_count": voters if poll.multiple else None,
            "options": options,
            "emojis": [],
        }

    def history(self, record: StatusRecord, seq: int) -> list[dict[str, Any]]:
        """``/history``: every revision, oldest first, the original included."""
        account = self.account(self.directory.get(record.account_id), seq)
        entries = []
        for version in record.versions_at(seq):
            poll = None
            if version.poll_options is not None:
                poll = {"options": [{"title": t} for t in version.poll_options]}
            entries.append(
                {
                    "content": version.content,
                    "spoiler_text": version.spoiler_text,
                    "sensitive": version.sensitive,
                    "created_at": iso_ms(version.at),
                    "account": account,
                    "poll": poll,
                    "media_attachments": version.media,
                    "emojis": version.emojis,
                }
            )
        return entries


def version_summary(version: Version) -> dict[str, Any]:
    """A revision as ground truth lists it."""
    return {
        "seq": version.seq,
        "at": iso_ms(version.at),
        "content": version.content,
        "spoiler_text": version.spoiler_text,
        "sensitive": version.sensitive,
        "tags": sorted({t.lower() for t in version.tags}),
        "mention_ids": [str(i) for i in version.mention_ids],
        "media_attachments": version.media,
        "poll_options": version.poll_options,
    }


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
