"""``forkalytics import-legacy``: migrate an installation of the earlier Forkalytics into this warehouse.

Both earlier schemas are read: the original single-instance one (``mastodon_posts``, ``mastodon_accounts``,
``post_sentiments``, ``daily_summaries``, ``hourly_stats``, ``hourly_topics``) and the improved multi-instance
one (the same tables with ``instance_id``, audit columns and soft deletes, plus ``instances``,
``post_versions``, ``post_metric_snapshots`` and ``stream_events``). Columns are looked up by name (with the
aliases the earlier versions used) and every missing column is tolerated.

Where each table goes (see docs/decisions.md):

* posts, their versions, metric snapshots and deletions become synthetic events in ``raw.stream_events``
  with ``source = 'legacy'``, following the raw contract: each version is an ``update`` (the first) or a
  ``status.update`` (later ones) whose payload is a Mastodon Status built from the legacy row, with the
  author's account (from ``mastodon_accounts``) inside; each metric snapshot is a ``poll`` at its capture
  time; a soft-deleted post gets a ``delete`` at its ``deleted_at``. The legacy ``stream_events`` log is
  imported as it was received when its payload is a usable Status. dbt then rebuilds every mart from these
  events, so accounts, versions, hashtags and mentions come out of the same models as live data.
* sentiments, daily summaries and hourly topics go into the ``enrichment`` tables (provider ``legacy``,
  their model and prompt version kept when recorded, ``legacy`` otherwise), so the enrichment marts show
  them and the audit columns say where they came from. Legacy sentiment of non-English posts (the earlier
  system applied English-only VADER to every language) is imported as ``skipped`` (the score is named in
  ``skip_reason`` only), so enrichment scores those posts afresh.
* ``hourly_stats`` is recomputed by the marts from the posts; its rows, and every row that cannot be
  migrated (with the reason), are kept verbatim in ``raw.legacy_rows``.

Importing twice adds nothing: events already in ``raw`` (same deterministic ``event_id``) are skipped, and
enrichment and ``legacy_rows`` inserts ignore existing keys.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from extract.events import RawEvent, normalise
from extract.raw_loader import RawLoader
from orchestration.config import instance_id_for, normalise_instance_url
from orchestration.errors import UserError
from orchestration.warehouse import redact_dsn

log = logging.getLogger(__name__)

LEGACY_TABLES = ("instances", "mastodon_accounts", "mastodon_posts", "post_versions", "post_metric_snapshots",
                 "stream_events", "post_sentiments", "daily_summaries", "hourly_stats", "hourly_topics")
STREAM = "legacy"
SOURCE = "legacy"
PROVIDER = "legacy"
BATCH_SIZE = 5000

LEGACY_ROWS_DDL = """
create table if not exists raw.legacy_rows (
    table_name text not null,
    row_key text not null,
    reason text not null,
    row_data jsonb not null,
    imported_at timestamptz not null default now(),
    primary key (table_name, row_key)
)"""


# -- reading the legacy database ----------------------------------------------------------------------
def _utc(value: Any) -> datetime | None:
    """Legacy timestamps were naive (UTC) or aware; dates are midnight UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    return None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def pick(row: dict, *names: str) -> Any:
    """The first of these columns the row has a non-null value in."""
    for name in names:
        if row.get(name) is not None:
            return row[name]
    return None


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _row_key(table: str, row: dict) -> str:
    if row.get("id") is not None:
        return str(row["id"])
    canonical = json.dumps(row, sort_keys=True, default=_default)
    return hashlib.sha256(f"{table}\x1f{canonical}".encode()).hexdigest()[:32]


class LegacySource:
    """The earlier installation's database (read only)."""

    def __init__(self, dsn: str, schema: str = "public") -> None:
        self.dsn = dsn
        self.schema = schema
        try:
            self.conn = psycopg2.connect(dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            reason = (str(exc).strip().splitlines() or ["connection refused"])[0]
            raise UserError(f"Cannot connect to the earlier installation's database at {redact_dsn(dsn)}: "
                            f"{reason}") from None
        self.conn.set_session(readonly=True)
        with self.conn.cursor() as cur:
            cur.execute("select table_name, column_name from information_schema.columns where table_schema = %s",
                        (schema,))
            self.columns: dict[str, set[str]] = defaultdict(set)
            for table, column in cur.fetchall():
                self.columns[table].add(column)

    def close(self) -> None:
        self.conn.close()

    def has(self, table: str, column: str | None = None) -> bool:
        return table in self.columns and (column is None or column in self.columns[table])

    def count(self, table: str) -> int:
        if not self.has(table):
            return 0
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(self.schema), sql.Identifier(table)))
            return int(cur.fetchone()[0])

    def rows(self, table: str, order_by: Iterable[str] = ()) -> Iterator[dict]:
        if not self.has(table):
            return
        order = [column for column in order_by if self.has(table, column)]
        query = sql.SQL("select * from {}.{}").format(sql.Identifier(self.schema),
                                                                sql.Identifier(table))
        if order:
            query += sql.SQL(" order by ") + sql.SQL(", ").join(
                sql.Identifier(column) for column in order)
        with self.conn.cursor(name=f"legacy_{table}", cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.itersize = 2000
            cur.execute(query)
            for row in cur:
                yield dict(row)


# -- the report ---------------------------------------------------------------------------------------
@dataclass
class TableReport:
    read: int = 0
    migrated: int = 0
    already_present: int = 0
    not_migrated: Counter = field(default_factory=Counter)

    def line(self, table: str) -> str:
        text = f"{table}: {self.read:,} read, {self.migrated:,} migrated"
        if self.already_present:
            text += f", {self.already_present:,} already imported"
        if self.not_migrated:
            text += "; not migrated: " + ", ".join(f"{count:,} {reason}" for reason, count in
                                                  sorted(self.not_migrated.items()))
        return text


@dataclass
class ImportReport:
    schema: str = "original"
    tables: dict[str, TableReport] = field(default_factory=dict)
    events_loaded: int = 0
    events_already_loaded: int = 0

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport())

    @property
    def not_migrated(self) -> int:
        return sum(sum(t.not_migrated.values()) for t in self.tables.values())


# -- the import ---------------------------------------------------------------------------------------
@dataclass
class _Instance:
    instance_id: str
    instance_url: str


@dataclass
class _Version:
    seq: int
    valid_from: datetime
    content_html: str
    edited_at: datetime | None


class LegacyImporter:
    def __init__(self, source: LegacySource, dsn: str, state_dir, *, say: Callable[[str], None],
                 default_instance: str | None = None, batch_size: int = BATCH_SIZE, privacy: Any = None) -> None:
        self.source = source
        self.dsn = dsn
        self.say = say
        # the same consent and privacy policy as live data (the loader's default when none is given)
        self.loader = RawLoader(dsn, state_dir, privacy) if privacy is not None else RawLoader(dsn, state_dir)
        self.batch_size = batch_size
        self.report = ImportReport()
        self.default_url = normalise_instance_url(default_instance) if default_instance else None
        self.instances: dict[Any, _Instance] = {}
        self.accounts: dict[tuple[Any, str], dict] = {}
        self.accounts_by_acct: dict[tuple[Any, str], dict] = {}
        self.authors: set[tuple[Any, str]] = set()
        self.mentioned: set[tuple[Any, str]] = set()
        self.post_versions: dict[tuple[Any, str], list[_Version]] = {}
        self.post_languages: dict[tuple[Any, str], str | None] = {}
        self.known_posts: set[tuple[Any, str]] = set()
        self._existing: set[str] = set()
        self._pending: list[RawEvent] = []
        self._pending_ids: set[str] = set()
        # Per migrated post: its instance and version numbers (sentiments need them); the whole payload only
        # for posts with metric snapshots, so memory stays small for large installations.
        self._posts: dict[tuple[Any, str], tuple[_Instance, tuple[int, ...]]] = {}
        self._snapshot_keys: set[tuple[Any, str]] = set()
        self._current: dict[tuple[Any, str], tuple[_Instance, dict, list[_Version]]] = {}
        self.wh = psycopg2.connect(dsn, connect_timeout=10)

    # -- helpers -----------------------------------------------------------------------------------
    def _instance(self, row: dict) -> _Instance | None:
        key = row.get("instance_id")
        if key is not None and key in self.instances:
            return self.instances[key]
        if None in self.instances:  # the single instance of an installation without an instances table
            return self.instances[None]
        if key is None and len(self.instances) == 1:  # a table without instance_id in a one-instance installation
            return next(iter(self.instances.values()))
        return None

    def _progress(self, table: str):
        from orchestration.progress import Progress

        return Progress(f"importing {table}", self.say, total=self.source.count(table))

    def _archive(self, table: str, row: dict, reason: str) -> None:
        with self.wh, self.wh.cursor() as cur:
            cur.execute("insert into raw.legacy_rows (table_name, row_key, reason, row_data) values (%s, %s, %s, %s) "
                        "on conflict do nothing",
                        (table, _row_key(table, row), reason, json.dumps(row, default=_default)))

    def _skip(self, table: str, row: dict, reason: str) -> None:
        self.report.table(table).not_migrated[reason] += 1
        self._archive(table, row, reason)

    def _emit(self, table: str, instance: _Instance, event_type: str, received_at: datetime, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True).encode()
        event = RawEvent(instance_id=instance.instance_id, instance_url=instance.instance_url, stream=STREAM,
                         source=SOURCE, event_type=event_type, received_at=received_at, payload=body)
        event_id = normalise(event).event_id
        report = self.report.table(table)
        if event_id in self._existing or event_id in self._pending_ids:
            report.already_present += 1
            return
        report.migrated += 1
        self._pending.append(event)
        self._pending_ids.add(event_id)
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        ids = sorted(self._pending_ids)
        key = "legacy:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        loaded = self.loader.load_batch(key, self._pending)
        self.report.events_loaded += loaded.rows
        self._existing.update(self._pending_ids)
        self._pending = []
        self._pending_ids = set()

    # -- steps -------------------------------------------------------------------------------------
    def run(self) -> ImportReport:
        improved = self.source.has("mastodon_posts", "instance_id") or self.source.has("instances")
        self.report.schema = "improved (multi-instance)" if improved else "original (single-instance)"
        if not self.source.has("mastodon_posts"):
            raise UserError(f"The database at {redact_dsn(self.source.dsn)} has no mastodon_posts table in schema "
                            f"{self.source.schema}: it is not an earlier Forkalytics installation.", exit_code=2)
        self.say(f"earlier installation: {self.report.schema} schema; tables: "
                 + ", ".join(t for t in LEGACY_TABLES if self.source.has(t)))
        with self.wh, self.wh.cursor() as cur:
            cur.execute(LEGACY_ROWS_DDL)
            cur.execute("select event_id from raw.stream_events where source = %s", (SOURCE,))
            self._existing = {row[0] for row in cur.fetchall()}
        from enrichment.schema import ensure_schema

        ensure_schema(self.wh)
        self._read_instances()
        self._read_accounts()
        self._read_versions()
        self._read_snapshot_keys()
        self._import_posts()
        self._import_snapshots()
        self._import_stream_events()
        self._flush()
        self._report_accounts()
        self._import_sentiments()
        self._import_summaries()
        self._import_topics()
        self._archive_hourly_stats()
        self.wh.close()
        return self.report

    def _read_instances(self) -> None:
        for row in self.source.rows("instances", ["id"]):
            url = pick(row, "base_url", "url")
            try:
                normalised = normalise_instance_url(str(url))
            except Exception:  # noqa: BLE001 - reported
                self._skip("instances", row, "without a usable base_url")
                continue
            self.instances[row.get("id")] = _Instance(instance_id_for(normalised), normalised)
            self.report.table("instances").read += 1
            self.report.table("instances").migrated += 1
        if not self.instances or not self.source.has("mastodon_posts", "instance_id"):
            if self.default_url is None:
                raise UserError("The earlier installation does not say which instance its posts came from: give "
                                "it with --instance URL (e.g. --instance https://mastodon.social).", exit_code=2)
            self.instances[None] = _Instance(instance_id_for(self.default_url), self.default_url)

    def _read_accounts(self) -> None:
        for row in self.source.rows("mastodon_accounts", ["id"]):
            self.report.table("mastodon_accounts").read += 1
            instance_key = row.get("instance_id") if self.source.has("mastodon_accounts", "instance_id") else None
            if row.get("id") is None:
                self._skip("mastodon_accounts", row, "without an id")
                continue
            self.accounts[(instance_key, str(row["id"]))] = row
            acct = pick(row, "acct", "username")
            if acct:
                self.accounts_by_acct[(instance_key, str(acct).lower())] = row

    def _account_payload(self, instance_key: Any, account_id: str, post: dict) -> dict:
        row = self.accounts.get((instance_key, account_id)) or {}
        username = pick(row, "username") or pick(post, "account_username", "username")
        acct = pick(row, "acct") or pick(post, "account_acct", "acct") or username
        return {
            "id": account_id,
            "username": _text(username),
            "acct": _text(acct),
            "display_name": _text(pick(row, "display_name")) or "",
            "note": _text(pick(row, "note", "note_html", "bio")) or "",
            "url": _text(pick(row, "url")),
            "uri": _text(pick(row, "uri")),
            "avatar": _text(pick(row, "avatar", "avatar_url")),
            "bot": bool(pick(row, "bot", "is_bot") or False),
            "group": bool(pick(row, "group", "is_group") or False),
            "locked": bool(pick(row, "locked", "is_locked") or False),
            "discoverable": pick(row, "discoverable"),
            "created_at": _iso(_utc(pick(row, "created_at"))),
            "last_status_at": (str(pick(row, "last_status_at"))[:10] if pick(row, "last_status_at") else None),
            "followers_count": _int(pick(row, "followers_count")) or 0,
            "following_count": _int(pick(row, "following_count")) or 0,
            "statuses_count": _int(pick(row, "statuses_count")) or 0,
            "fields": [],
        }

    def _read_versions(self) -> None:
        for row in self.source.rows("post_versions", ["instance_id", "post_id", "version_seq", "valid_from"]):
            self.report.table("post_versions").read += 1
            instance_key = row.get("instance_id")
            valid_from = _utc(pick(row, "valid_from", "edited_at", "created_at"))
            content = pick(row, "content_html", "content")
            if content is None and row.get("content_text") is not None:
                content = "<p>" + html.escape(str(row["content_text"])) + "</p>"
            if row.get("post_id") is None or valid_from is None or content is None:
                self._skip("post_versions", row, "without post_id, valid_from or content")
                continue
            versions = self.post_versions.setdefault((instance_key, str(row["post_id"])), [])
            versions.append(_Version(_int(row.get("version_seq")) or len(versions) + 1, valid_from, str(content),
                                     _utc(row.get("edited_at"))))

    def _read_snapshot_keys(self) -> None:
        if not self.source.has("post_metric_snapshots", "post_id"):
            return
        instance_column = "instance_id" if self.source.has("post_metric_snapshots", "instance_id") else "null"
        with self.source.conn.cursor() as cur:
            cur.execute(sql.SQL("select distinct {}, post_id::text from {}.post_metric_snapshots").format(
                sql.SQL(instance_column), sql.Identifier(self.source.schema)))
            self._snapshot_keys = {(instance, post_id) for instance, post_id in cur.fetchall()}

    def _tags(self, instance: _Instance, value: Any) -> list[dict]:
        tags = []
        for item in _json(value) or []:
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name.strip():
                name = name.strip().lstrip("#").lower()
                tags.append({"name": name, "url": f"{instance.instance_url}/tags/{name}"})
        return tags

    def _mentions(self, instance_key: Any, value: Any) -> list[dict]:
        mentions = []
        for item in _json(value) or []:
            if isinstance(item, dict) and item.get("id") is not None:
                mention = {"id": str(item["id"]), "username": item.get("username"), "acct": item.get("acct"),
                           "url": item.get("url")}
            else:
                acct = item.get("acct") if isinstance(item, dict) else item
                row = self.accounts_by_acct.get((instance_key, str(acct).lstrip("@").lower())) if acct else None
                if row is None:
                    continue
                mention = {"id": str(row["id"]), "username": row.get("username"), "acct": row.get("acct"),
                           "url": row.get("url")}
            self.mentioned.add((instance_key, mention["id"]))
            mentions.append(mention)
        return mentions

    def _import_posts(self) -> None:
        progress = self._progress("mastodon_posts")
        table = self.report.table("mastodon_posts")
        for row in self.source.rows("mastodon_posts", ["instance_id", "created_at", "id"]):
            table.read += 1
            progress.update(1, table.read / max(progress.total or 1, 1))
            instance = self._instance(row)
            instance_key = row.get("instance_id") if self.source.has("mastodon_posts", "instance_id") else None
            if instance is None:
                self._skip("mastodon_posts", row, "of an instance not in the instances table")
                continue
            post_id = _text(row.get("id"))
            account_id = _text(pick(row, "account_id"))
            created_at = _utc(pick(row, "created_at"))
            if not post_id or not account_id or created_at is None:
                self._skip("mastodon_posts", row, "without id, account_id or created_at")
                continue
            key = (instance_key, post_id)
            self.known_posts.add(key)
            self.authors.add((instance_key, account_id))
            self.post_languages[key] = _text(row.get("language"))
            content = pick(row, "content", "content_html")
            if content is None:
                content = "<p>" + html.escape(str(row.get("content_text") or "")) + "</p>"
            versions = sorted(self.post_versions.get(key, []), key=lambda v: (v.seq, v.valid_from))
            if not versions:
                edited = _utc(row.get("edited_at"))
                versions = [_Version(1, edited or created_at, str(content), edited)]
            base = {
                "id": post_id,
                "uri": _text(pick(row, "uri")) or f"{instance.instance_url}/users/{account_id}/statuses/{post_id}",
                "url": _text(pick(row, "url")),
                "created_at": _iso(created_at),
                "spoiler_text": _text(pick(row, "spoiler_text")) or "",
                "sensitive": bool(pick(row, "sensitive") or False),
                "visibility": _text(pick(row, "visibility")) or "public",
                "language": _text(row.get("language")),
                "in_reply_to_id": _text(pick(row, "in_reply_to_id")),
                "in_reply_to_account_id": _text(pick(row, "in_reply_to_account_id")),
                "reblog": ({"id": _text(pick(row, "reblog_of_id")), "uri": _text(pick(row, "reblog_of_uri"))}
                           if pick(row, "reblog_of_id") is not None else None),
                "replies_count": _int(pick(row, "replies_count")) or 0,
                "reblogs_count": _int(pick(row, "reblogs_count", "boosts_count")) or 0,
                "favourites_count": _int(pick(row, "favourites_count", "favorites_count")) or 0,
                "media_attachments": [m for m in (_json(pick(row, "media_attachments")) or []) if isinstance(m, dict)],
                "mentions": self._mentions(instance_key, pick(row, "mentions")),
                "tags": self._tags(instance, pick(row, "hashtags", "tags")),
                "emojis": [],
                "poll": None,
                "account": self._account_payload(instance_key, account_id, row),
            }
            for index, version in enumerate(versions):
                payload = dict(base, content=version.content_html,
                               edited_at=_iso(version.edited_at if index else None) if index else None)
                if index and payload["edited_at"] is None:
                    payload["edited_at"] = _iso(version.valid_from)
                received = created_at if index == 0 else version.valid_from
                self._emit("mastodon_posts", instance, "update" if index == 0 else "status.update", received,
                           payload)
            self._posts[key] = (instance, tuple(v.seq for v in versions))
            if key in self._snapshot_keys:
                self._current[key] = (instance, base, versions)
            self.post_versions.pop(key, None)
            deleted_at = _utc(row.get("deleted_at"))
            if deleted_at is not None:
                self._emit("mastodon_posts", instance, "delete", deleted_at, post_id.encode())
        say_line = progress.finish()
        if table.read:
            self.say(say_line)

    def _import_snapshots(self) -> None:
        if not self.source.has("post_metric_snapshots"):
            return
        progress = self._progress("post_metric_snapshots")
        table = self.report.table("post_metric_snapshots")
        for row in self.source.rows("post_metric_snapshots", ["instance_id", "post_id", "captured_at"]):
            table.read += 1
            progress.update(1, table.read / max(progress.total or 1, 1))
            key = (row.get("instance_id"), _text(row.get("post_id")))
            current = self._current.get(key)
            captured = _utc(row.get("captured_at"))
            if current is None or captured is None:
                self._skip("post_metric_snapshots", row, "of a post not migrated, or without captured_at")
                continue
            instance, base, versions = current
            version = versions[0]
            for candidate in versions:
                if candidate.valid_from <= captured:
                    version = candidate
            index = versions.index(version)
            payload = dict(base, content=version.content_html,
                           edited_at=_iso(version.edited_at or version.valid_from) if index else None,
                           replies_count=_int(row.get("replies_count")) or 0,
                           reblogs_count=_int(row.get("reblogs_count")) or 0,
                           favourites_count=_int(row.get("favourites_count")) or 0)
            self._emit("post_metric_snapshots", instance, "poll", captured, payload)
        self.say(progress.finish())

    def _import_stream_events(self) -> None:
        if not self.source.has("stream_events"):
            return
        progress = self._progress("stream_events")
        table = self.report.table("stream_events")
        for row in self.source.rows("stream_events", ["received_at", "id"]):
            table.read += 1
            progress.update(1, table.read / max(progress.total or 1, 1))
            instance = self._instance(row)
            event_type = _text(row.get("event_type"))
            received = _utc(row.get("received_at"))
            payload = _json(row.get("payload"))
            if instance is None or received is None:
                self._skip("stream_events", row, "of an unknown instance or without received_at")
                continue
            if event_type in ("update", "status.update") and isinstance(payload, dict) and payload.get("id") \
                    and isinstance(payload.get("account"), dict) and payload.get("created_at"):
                self._emit("stream_events", instance, event_type, received, payload)
            elif event_type == "delete" and (payload or row.get("payload_status_id")):
                status_id = payload if isinstance(payload, (str, int)) else row.get("payload_status_id")
                self._emit("stream_events", instance, "delete", received, str(status_id).encode())
            else:
                self._skip("stream_events", row, "whose payload is not a whole Status or a delete")
        self.say(progress.finish())

    def _report_accounts(self) -> None:
        table = self.report.table("mastodon_accounts")
        for (instance_key, account_id), row in self.accounts.items():
            if (instance_key, account_id) in self.authors:
                table.migrated += 1
            elif (instance_key, account_id) in self.mentioned:
                table.migrated += 1  # appears as a mentioned account (no profile observation)
            else:
                self._skip("mastodon_accounts", row, "without any post or mention (kept in raw.legacy_rows)")

    # -- enrichment results ------------------------------------------------------------------------
    def _insert(self, table: str, columns: list[str], values: list[tuple]) -> int:
        if not values:
            return 0
        statement = (f"insert into enrichment.{table} ({', '.join(columns)}) values %s "  # noqa: S608
                     "on conflict do nothing")
        with self.wh, self.wh.cursor() as cur:
            psycopg2.extras.execute_values(cur, statement, values, page_size=1000)
            return cur.rowcount

    def _import_sentiments(self) -> None:
        if not self.source.has("post_sentiments"):
            return
        table = self.report.table("post_sentiments")
        columns = ["instance_id", "post_id", "status_version_seq", "model", "prompt_version", "provider", "status",
                   "sentiment_score", "sentiment_label", "language", "skip_reason", "input_hash",
                   "source_fingerprint", "analyzed_at", "first_attempt_at", "last_attempt_at", "attempt_count"]
        values = []
        seen = set()
        for row in self.source.rows("post_sentiments", ["id"]):
            table.read += 1
            instance_key = row.get("instance_id") if self.source.has("post_sentiments", "instance_id") else None
            post_id = _text(row.get("post_id"))
            key = (instance_key, post_id)
            if key not in self.known_posts:
                self._skip("post_sentiments", row, "of a post not migrated")
                continue
            instance, seqs = self._posts[key]
            seq = _int(row.get("status_version_seq")) or seqs[-1]
            if seq not in seqs:
                seq = seqs[-1]
            score = _float(pick(row, "sentiment_score", "compound", "score"))
            if score is not None:
                score = max(-1.0, min(1.0, score))
            label = (_text(pick(row, "sentiment_label", "label")) or "").lower() or None
            if label not in ("positive", "negative", "neutral"):
                label = None if score is None else ("positive" if score >= 0.05 else
                                                    "negative" if score <= -0.05 else "neutral")
            model = _text(row.get("model")) or "vader"
            prompt_version = _text(row.get("prompt_version")) or "legacy"
            language = self.post_languages.get(key)
            status, skip_reason = "scored", None
            if score is None:
                status, skip_reason = "skipped", "legacy row without a score"
            elif language and not language.lower().startswith("en"):
                # The earlier system scored every language with English-only VADER: not a usable score.
                status, skip_reason = "skipped", f"unsupported_language (legacy English-only score {score:g} dropped)"
                score, label = None, None
            if (instance.instance_id, post_id, seq, model, prompt_version) in seen:
                table.already_present += 1
                continue
            seen.add((instance.instance_id, post_id, seq, model, prompt_version))
            analyzed = _utc(pick(row, "analyzed_at", "created_at")) or datetime.now(timezone.utc)
            input_hash = _text(row.get("input_hash")) or hashlib.sha256(
                f"legacy\x1f{instance.instance_id}\x1f{post_id}\x1f{seq}\x1f{score}".encode()).hexdigest()
            values.append((instance.instance_id, post_id, seq, model, prompt_version, PROVIDER, status, score, label,
                           language, skip_reason, input_hash, "legacy", analyzed, analyzed, analyzed, 1))
        inserted = self._insert("post_sentiments", columns, values)
        table.migrated += inserted
        table.already_present += len(values) - inserted

    def _import_summaries(self) -> None:
        if not self.source.has("daily_summaries"):
            return
        table = self.report.table("daily_summaries")
        columns = ["instance_id", "summary_date", "time_zone", "window_start", "window_end", "model",
                   "prompt_version", "provider", "status", "input_stats_json", "input_hash", "summary_text",
                   "trending_topics", "notable_events", "error", "analyzed_at", "last_attempt_at", "attempt_count"]
        values = []
        for row in self.source.rows("daily_summaries", ["id"]):
            table.read += 1
            instance = self._instance(row)
            start = _utc(pick(row, "window_start", "date", "summary_date", "day"))
            if instance is None or start is None:
                self._skip("daily_summaries", row, "without a date or of an unknown instance")
                continue
            end = _utc(row.get("window_end")) or start + timedelta(days=1)
            stats = _json(row.get("input_stats_json"))
            if not isinstance(stats, dict) or "post_count" not in stats:
                stats = {
                    "post_count": _int(pick(row, "total_posts", "post_count")),
                    "unique_authors": _int(pick(row, "unique_authors")),
                    "engagement": {"total": _float(pick(row, "total_engagement"))},
                    "sentiment": {"average_score": _float(pick(row, "avg_sentiment", "average_sentiment")),
                                  "positive": _int(pick(row, "positive_count")),
                                  "neutral": _int(pick(row, "neutral_count")),
                                  "negative": _int(pick(row, "negative_count"))},
                    "source": "legacy",
                }
            text = _text(row.get("summary_text"))
            model = _text(row.get("model")) or "legacy"
            prompt_version = _text(row.get("prompt_version")) or "legacy"
            canonical = json.dumps({k: v for k, v in row.items() if k != "id"}, sort_keys=True, default=_default)
            input_hash = _text(row.get("input_hash")) or hashlib.sha256(canonical.encode()).hexdigest()
            analyzed = _utc(pick(row, "analyzed_at", "created_at")) or end
            values.append((instance.instance_id, start.date(), "UTC", start, end, model, prompt_version, PROVIDER,
                           "ok" if text else "failed", json.dumps(stats), input_hash, text,
                           json.dumps(_json(row.get("trending_topics"))), json.dumps(_json(row.get("notable_events"))),
                           None if text else "legacy summary without text", analyzed, analyzed, 1))
        inserted = self._insert("daily_summaries", columns, values)
        table.migrated += inserted
        table.already_present += len(values) - inserted

    def _import_topics(self) -> None:
        if not self.source.has("hourly_topics"):
            return
        table = self.report.table("hourly_topics")
        hours: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
        for row in self.source.rows("hourly_topics", ["hour_start", "id"]):
            table.read += 1
            instance = self._instance(row)
            hour = _utc(pick(row, "hour_start", "hour", "hour_ts"))
            if instance is None or hour is None:
                self._skip("hourly_topics", row, "without an hour or of an unknown instance")
                continue
            topics = _json(row.get("topics"))
            items = topics if isinstance(topics, list) else [row]
            for item in items:
                if isinstance(item, dict) and pick(item, "topic", "name", "title"):
                    hours[(instance.instance_id, hour)].append({**item, "_analyzed_at": row.get("created_at")})
                else:
                    self._skip("hourly_topics", row, "topic without a name")
        runs, rows = [], []
        for (instance_id, hour), items in sorted(hours.items()):
            canonical = json.dumps(items, sort_keys=True, default=_default)
            input_hash = hashlib.sha256(canonical.encode()).hexdigest()
            analyzed = _utc(items[0].get("_analyzed_at")) or hour + timedelta(hours=1)
            post_total = sum(_int(pick(i, "post_count", "count")) or 0 for i in items)
            runs.append((instance_id, hour, hour + timedelta(hours=1), "legacy", "legacy", PROVIDER, "ok", post_total,
                         len(items), json.dumps(["imported from the earlier system: post ids and counts were not "
                                                 "validated"]), input_hash, analyzed, analyzed, 1))
            for rank, item in enumerate(items, start=1):
                post_ids = [str(p) for p in (_json(pick(item, "post_ids")) or []) if p is not None]
                rows.append((instance_id, hour, "legacy", "legacy", rank, str(pick(item, "topic", "name", "title")),
                             _text(pick(item, "summary", "description")) or "",
                             _int(pick(item, "post_count", "count")) or len(post_ids),
                             _float(pick(item, "sentiment", "average_sentiment", "avg_sentiment")),
                             json.dumps(post_ids[:5]), json.dumps(post_ids), input_hash, analyzed))
        inserted = self._insert("hourly_topic_runs", [
            "instance_id", "hour_start", "hour_end", "model", "prompt_version", "provider", "status",
            "input_post_count", "topic_count", "validation_notes", "input_hash", "analyzed_at", "last_attempt_at",
            "attempt_count"], runs)
        topic_rows = self._insert("hourly_topics", [
            "instance_id", "hour_start", "model", "prompt_version", "topic_rank", "topic", "summary", "post_count",
            "average_sentiment", "sample_post_ids", "post_ids", "input_hash", "analyzed_at"], rows)
        table.migrated += topic_rows
        table.already_present += len(rows) - topic_rows
        log.debug("%d hourly topic runs inserted", inserted)

    def _archive_hourly_stats(self) -> None:
        if not self.source.has("hourly_stats"):
            return
        table = self.report.table("hourly_stats")
        for row in self.source.rows("hourly_stats", ["id"]):
            table.read += 1
            self._archive("hourly_stats", row, "recomputed by the marts from the posts; kept for reference")
        table.migrated = table.read


def import_legacy(legacy_dsn: str, dsn: str, state_dir, *, say: Callable[[str], None],
                  default_instance: str | None = None, schema: str = "public", privacy: Any = None) -> ImportReport:
    """Migrate the earlier installation at ``legacy_dsn`` into the warehouse at ``dsn``; returns what was done.
    ``privacy`` is the configuration's privacy policy, applied by the loader as to live data."""
    source = LegacySource(legacy_dsn, schema)
    try:
        return LegacyImporter(source, dsn, state_dir, say=say, default_instance=default_instance,
                              privacy=privacy).run()
    finally:
        source.close()
