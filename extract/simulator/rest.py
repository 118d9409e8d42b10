"""The REST endpoints of the simulated instance, independent of HTTP plumbing.

Behaviour follows Mastodon 4.x: timelines are newest first and paged by snowflake id
(``max_id``/``since_id`` walk backwards; ``min_id`` returns the ``limit`` statuses immediately
newer than it, still newest first), a ``Link`` header carries ``rel="next"`` (``max_id``) and
``rel="prev"`` (``min_id``) with the permitted query parameters in Rails' sorted order, and
deleted statuses never appear. ``limit`` defaults to 20 and is capped at 40.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from .accounts import LIST_ID, LIST_TITLE
from .config import SimulatorConfig
from .entities import rest_json, tag_url
from .records import StatusRecord
from .state import Store

JSON_TYPE = "application/json; charset=utf-8"
DEFAULT_LIMIT = 20
BATCH_LIMIT = 20
REQUIRES_USER = "This method requires an authenticated user"


@dataclass
class Response:
    """An HTTP response before it is written."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestContext:
    """What a REST handler needs to know about the request."""

    base_url: str
    authenticated: bool


def json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, rest_json(value).encode("utf-8"), JSON_TYPE, dict(headers or {}))


def error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def not_found() -> Response:
    return error(404, "Record not found")


def normalize_tag(name: str) -> str:
    """Tag lookup key: NFKC, lower case (as Mastodon normalises hashtags)."""
    return unicodedata.normalize("NFKC", name).lower()


def truthy(values: list[str] | None) -> bool:
    """Rails' boolean casting: absent, empty, ``0``, ``f``, ``false``, ``off`` are false."""
    if not values:
        return False
    return values[-1].strip().lower() not in ("", "0", "f", "false", "off")


def _int_param(values: list[str] | None) -> int | None:
    if not values:
        return None
    try:
        return int(values[-1])
    except ValueError:
        return None


def _limit(values: list[str] | None, default: int = DEFAULT_LIMIT) -> int:
    if not values:
        return default
    try:
        requested = abs(int(values[-1]))
    except ValueError:
        requested = 0
    return min(requested, default * 2)


class RestApi:
    """Answers REST requests from the :class:`Store` (takes ``store.lock`` itself)."""

    def __init__(self, config: SimulatorConfig, store: Store, listen_url: Callable[[], str]) -> None:
        self.config = config
        self.store = store
        self.directory = store.directory
        self.listen_url = listen_url

    # Dispatch -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], ctx: RequestContext) -> Response:
        parts = [unquote(p) for p in path.split("/") if p]
        if method != "GET":
            return not_found()
        with self.store.lock:
            return self._route(parts, query, ctx)

    def _route(self, parts: list[str], query: dict[str, list[str]], ctx: RequestContext) -> Response:
        if parts[:1] != ["api"] or len(parts) < 3:
            return not_found()
        version, rest = parts[1], parts[2:]
        if version == "v2":
            return self.instance_v2(ctx) if rest == ["instance"] else not_found()
        if version != "v1":
            return not_found()
        match rest:
            case ["instance"]:
                return self.instance_v1(ctx)
            case ["accounts", "verify_credentials"]:
                return self.verify_credentials(ctx)
            case ["accounts", account_id]:
                return self.account(account_id)
            case ["timelines", "public"]:
                return self.timeline_public(query, ctx)
            case ["timelines", "tag", tag]:
                return self.timeline_tag(tag, query, ctx)
            case ["statuses"]:
                return self.statuses_batch(query)
            case ["statuses", status_id]:
                return self.status(status_id)
            case ["statuses", status_id, "history"]:
                return self.history(status_id)
            case ["tags", name]:
                return self.tag(name, ctx)
            case ["trends", "tags"] | ["trends"]:
                return self.trends_tags(query)
            case ["trends", "statuses"]:
                return self.trends_statuses(query)
            case ["trends", "links"]:
                return self.trends_links(query)
            case ["lists"]:
                return self.lists(ctx)
            case ["lists", list_id]:
                return self.list_(list_id, ctx)
            case ["lists", list_id, "accounts"]:
                return self.list_accounts(list_id, ctx)
        return not_found()

    # Instance ------------------------------------------------------------------------------

    def _streaming_url(self, ctx: RequestContext) -> str:
        base = ctx.base_url or self.listen_url()
        return "ws://" + base.split("://", 1)[-1]

    def _local_counts(self) -> tuple[int, int]:
        users = sum(1 for a in self.directory.accounts.values() if a.local)
        statuses = sum(1 for r in self.store.statuses.values() if r.local and r.deleted_seq is None)
        return users, statuses

    def instance_v1(self, ctx: RequestContext) -> Response:
        users, statuses = self._local_counts()
        cfg = self.config
        domains = {a.domain for a in self.directory.accounts.values() if a.domain}
        return json_response(200, {
            "uri": cfg.domain,
            "title": cfg.instance_title,
            "short_description": "A simulated Mastodon instance for Forkalytics.",
            "description": "A simulated Mastodon instance for Forkalytics.",
            "email": f"admin@{cfg.domain}",
            "version": cfg.version,
            "urls": {"streaming_api": self._streaming_url(ctx)},
            "stats": {"user_count": users, "status_count": statuses, "domain_count": len(domains)},
            "thumbnail": f"https://files.{cfg.domain}/site_uploads/files/000/000/001/original/thumb.png",
            "languages": ["en"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": self._configuration_v1(),
            "contact_account": None,
            "rules": [],
        })

    def _configuration_v1(self) -> dict[str, Any]:
        return {
            "accounts": {"max_featured_tags": 10},
            "statuses": {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23},
            "media_attachments": {
                "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4",
                                         "audio/mpeg"],
                "image_size_limit": 16777216,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
            },
            "polls": {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300,
                      "max_expiration": 2629746},
        }

    def instance_v2(self, ctx: RequestContext) -> Response:
        cfg = self.config
        users, _ = self._local_counts()
        config_v1 = self._configuration_v1()
        return json_response(200, {
            "domain": cfg.domain,
            "title": cfg.instance_title,
            "version": cfg.version,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A simulated Mastodon instance for Forkalytics.",
            "usage": {"users": {"active_month": users}},
            "thumbnail": {
                "url": f"https://files.{cfg.domain}/site_uploads/files/000/000/001/@1x/thumb.png",
                "blurhash": "UeKUpFxuo~R%0nW;WCnhF6RjaJt757oJodS$",
                "versions": {},
            },
            "icon": [],
            "languages": ["en"],
            "configuration": {
                "urls": {
                    "streaming": self._streaming_url(ctx),
                    "status": None,
                    "about": f"https://{cfg.domain}/about",
                    "privacy_policy": f"https://{cfg.domain}/privacy-policy",
                    "terms_of_service": None,
                },
                "vapid": {"public_key": "BCkMmVlS_6QTz3bUuY8-8N8qUaGjV1UzQz5Rf1gQ0p0"},
                "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                "statuses": config_v1["statuses"],
                "media_attachments": config_v1["media_attachments"],
                "polls": config_v1["polls"],
                "translation": {"enabled": False},
                "timelines_access": {
                    "live_feeds": {"local": cfg.live_feeds, "remote": cfg.live_feeds},
                    "hashtag_feeds": {"local": cfg.hashtag_feeds, "remote": cfg.hashtag_feeds},
                    "trending_link_feeds": {"local": "public", "remote": "public"},
                },
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None, "url": None},
            "api_versions": {"mastodon": 2},
            "contact": {"email": f"admin@{cfg.domain}", "account": None},
            "rules": [],
        })

    # Accounts --------------------------------------------------------------------------------

    def verify_credentials(self, ctx: RequestContext) -> Response:
        if not ctx.authenticated:
            return error(401, "The access token is invalid")
        ingest = self.directory.get(self.directory.ingest_id)
        return json_response(200, self.store.renderer.credential_account(ingest, self.store.seq))

    def account(self, account_id: str) -> Response:
        try:
            account = self.directory.accounts.get(int(account_id))
        except ValueError:
            account = None
        if account is None:
            return not_found()
        return json_response(200, self.store.renderer.account(account, self.store.seq))

    # Timelines -----------------------------------------------------------------------------

    def _feed_gate(self, access: str, ctx: RequestContext) -> Response | None:
        if access == "disabled":
            return json_response(200, [])
        if access == "authenticated" and not ctx.authenticated:
            return error(422, REQUIRES_USER)
        return None

    def timeline_public(self, query: dict[str, list[str]], ctx: RequestContext) -> Response:
        gate = self._feed_gate(self.config.live_feeds, ctx)
        if gate is not None:
            return gate
        local, remote = truthy(query.get("local")), truthy(query.get("remote"))
        local_only, remote_only = local and not remote, remote and not local
        only_media = truthy(query.get("only_media"))

        def keep(record: StatusRecord) -> bool:
            if not record.on_public_timeline:
                return False
            if (local_only and not record.local) or (remote_only and record.local):
                return False
            return not only_media or bool(record.versions[-1].media)

        return self._timeline(keep, query, ctx, "/api/v1/timelines/public", ("local", "remote", "limit",
                                                                             "only_media"))

    def timeline_tag(self, tag: str, query: dict[str, list[str]], ctx: RequestContext) -> Response:
        gate = self._feed_gate(self.config.hashtag_feeds, ctx)
        if gate is not None:
            return gate
        wanted_any = {normalize_tag(tag)} | {normalize_tag(t) for t in query.get("any[]", [])}
        wanted_all = {normalize_tag(t) for t in query.get("all[]", [])}
        unwanted = {normalize_tag(t) for t in query.get("none[]", [])}
        local, remote = truthy(query.get("local")), truthy(query.get("remote"))
        only_media = truthy(query.get("only_media"))

        def keep(record: StatusRecord) -> bool:
            if record.visibility != "public":
                return False
            names = {normalize_tag(t) for t in record.versions[-1].tags}
            if not names & wanted_any or not wanted_all <= names or names & unwanted:
                return False
            if (local and not remote and not record.local) or (remote and not local and record.local):
                return False
            return not only_media or bool(record.versions[-1].media)

        return self._timeline(keep, query, ctx, f"/api/v1/timelines/tag/{quote(tag)}",
                              ("local", "remote", "limit", "only_media", "any[]", "all[]", "none[]"))

    def _timeline(
        self,
        keep: Callable[[StatusRecord], bool],
        query: dict[str, list[str]],
        ctx: RequestContext,
        path: str,
        permitted: tuple[str, ...],
    ) -> Response:
        limit = _limit(query.get("limit"))
        max_id, since_id, min_id = (_int_param(query.get(k)) for k in ("max_id", "since_id", "min_id"))
        page: list[StatusRecord] = []
        if limit > 0 and min_id is not None:
            for record in self.store.oldest_first(min_id, max_id):
                if record.deleted_seq is None and keep(record):
                    page.append(record)
                    if len(page) >= limit:
                        break
            page.reverse()
        elif limit > 0:
            for record in self.store.newest_first(max_id, since_id):
                if record.deleted_seq is None and keep(record):
                    page.append(record)
                    if len(page) >= limit:
                        break
        now = self.store.clock()
        body = [self.store.renderer.status(r, self.store.seq, now) for r in page]
        headers = {}
        if page:
            base = (ctx.base_url or self.listen_url()) + path
            next_url = base + "?" + _to_query(query, permitted, ("max_id", str(page[-1].id)))
            prev_url = base + "?" + _to_query(query, permitted, ("min_id", str(page[0].id)))
            headers["Link"] = f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'
        return json_response(200, body, headers)

    # Statuses --------------------------------------------------------------------------------

    def _live(self, status_id: str) -> StatusRecord | None:
        try:
            return self.store.get_live(int(status_id))
        except ValueError:
            return None

    def status(self, status_id: str) -> Response:
        record = self._live(status_id)
        if record is None:
            return not_found()
        return json_response(200, self.store.renderer.status(record, self.store.seq, self.store.clock()))

    def statuses_batch(self, query: dict[str, list[str]]) -> Response:
        if not self.config.batch_statuses_endpoint:
            return not_found()
        ids: list[str] = []
        for value in query.get("id[]", []) + query.get("id", []):
            if value not in ids:
                ids.append(value)
        if len(ids) > BATCH_LIMIT:
            return error(422, f"Too many ids requested (maximum {BATCH_LIMIT})")
        now = self.store.clock()
        found = [r for r in (self._live(i) for i in ids) if r is not None]
        return json_response(200, [self.store.renderer.status(r, self.store.seq, now) for r in found])

    def history(self, status_id: str) -> Response:
        record = self._live(status_id)
        if record is None:
            return not_found()
        return json_response(200, self.store.renderer.history(record, self.store.seq))

    # Tags and trends -----------------------------------------------------------------------

    def _tag_history(self, name: str, today: dt.date) -> list[dict[str, str]]:
        days = [today - dt.timedelta(days=i) for i in range(7)]
        uses = {d: 0 for d in days}
        accounts: dict[dt.date, set[int]] = {d: set() for d in days}
        for record in self.store.statuses.values():
            if name in {normalize_tag(t) for t in record.versions[0].tags}:
                day = record.created_at.date()
                if day in uses:
                    uses[day] += 1
                    accounts[day].add(record.account_id)
        return [
            {"day": str(int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())),
             "uses": str(uses[d]), "accounts": str(len(accounts[d]))}
            for d in days
        ]

    def _tag_entity(self, name: str, ctx: RequestContext, today: dt.date) -> dict[str, Any]:
        entity: dict[str, Any] = {"name": name, "url": tag_url(self.config.domain, name),
                                  "history": self._tag_history(name, today)}
        if ctx.authenticated:
            entity["following"] = False
            entity["featuring"] = False
        return entity

    def tag(self, name: str, ctx: RequestContext) -> Response:
        name = normalize_tag(name)
        known = any(name in {normalize_tag(t) for v in r.versions for t in v.tags}
                    for r in self.store.statuses.values())
        if not known:
            return not_found()
        return json_response(200, self._tag_entity(name, ctx, self.store.clock().date()))

    def trends_tags(self, query: dict[str, list[str]]) -> Response:
        limit = min(_limit(query.get("limit"), 10), 20)
        counts: dict[str, set[int]] = {}
        for record in self.store.statuses.values():
            if record.deleted_seq is None:
                for t in record.versions[-1].tags:
                    counts.setdefault(normalize_tag(t), set()).add(record.account_id)
        ranked = sorted(counts, key=lambda n: (-len(counts[n]), n))[:limit]
        today = self.store.clock().date()
        ctx = RequestContext(base_url="", authenticated=False)
        return json_response(200, [self._tag_entity(n, ctx, today) for n in ranked])

    def trends_statuses(self, query: dict[str, list[str]]) -> Response:
        limit = _limit(query.get("limit"))
        seq, now = self.store.seq, self.store.clock()
        renderer = self.store.renderer
        scored = []
        for record in self.store.statuses.values():
            if record.deleted_seq is None and record.on_public_timeline:
                counts = renderer.counts(record, seq)
                scored.append((counts["reblogs_count"] * 3 + counts["favourites_count"], record.id, record))
        scored = sorted((s for s in scored if s[0] > 0), key=lambda item: (-item[0], -item[1]))
        return json_response(200, [renderer.status(r, seq, now) for _, _, r in scored[:limit]])

    def trends_links(self, query: dict[str, list[str]]) -> Response:
        limit = min(_limit(query.get("limit"), 10), 20)
        cards: dict[str, tuple[dict[str, Any], set[int]]] = {}
        for record in self.store.statuses.values():
            if record.card is not None and record.deleted_seq is None:
                entry = cards.setdefault(str(record.card["url"]), (record.card, set()))
                entry[1].add(record.account_id)
        ranked = sorted(cards.values(), key=lambda item: (-len(item[1]), str(item[0]["url"])))[:limit]
        today = self.store.clock().date()
        midnight = str(int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.timezone.utc).timestamp()))
        return json_response(200, [
            {**card, "history": [{"day": midnight, "uses": str(len(who)), "accounts": str(len(who))}]}
            for card, who in ranked
        ])

    # Lists -------------------------------------------------------------------------------

    def _list_entity(self) -> dict[str, Any]:
        return {"id": LIST_ID, "title": LIST_TITLE, "replies_policy": "list", "exclusive": False}

    def lists(self, ctx: RequestContext) -> Response:
        if not ctx.authenticated:
            return error(401, "The access token is invalid")
        return json_response(200, [self._list_entity()])

    def list_(self, list_id: str, ctx: RequestContext) -> Response:
        if not ctx.authenticated:
            return error(401, "The access token is invalid")
        return json_response(200, self._list_entity()) if list_id == LIST_ID else not_found()

    def list_accounts(self, list_id: str, ctx: RequestContext) -> Response:
        if not ctx.authenticated:
            return error(401, "The access token is invalid")
        if list_id != LIST_ID:
            return not_found()
        members = sorted(self.directory.list_members)
        return json_response(200, [self.store.renderer.account(self.directory.get(i), self.store.seq)
                                   for i in members])


def _to_query(query: dict[str, list[str]], permitted: tuple[str, ...], extra: tuple[str, str]) -> str:
    """Rails' ``to_query``: permitted parameters plus ``extra``, keys sorted, CGI-escaped."""
    items: dict[str, list[str]] = {}
    for key in permitted:
        if key in query:
            items[key.removesuffix("[]")] = query[key] if key.endswith("[]") else query[key][-1:]
    items[extra[0]] = [extra[1]]
    pairs = []
    for key in sorted(items):
        array = key + "[]" in permitted
        for value in items[key]:
            pairs.append(f"{quote_plus(key + '[]' if array else key)}={quote_plus(value)}")
    return "&".join(pairs)
