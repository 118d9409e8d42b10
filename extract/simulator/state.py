"""The instance's state (accounts, statuses, the event log) and ground-truth snapshots.

All mutation happens under ``Store.lock``. A :class:`GroundTruth` is taken under the lock in O(n)
pointer copies and renders its entities lazily: records only ever grow by appending changes
stamped with an event sequence number, so rendering "as of" the snapshot's sequence number gives
the same answer whenever it is done.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .accounts import Directory
from .entities import Renderer, version_summary
from .ids import SnowflakeAllocator, iso_ms
from .records import StatusRecord


@dataclass(frozen=True)
class Event:
    """One event broadcast by the instance.

    ``event`` is what happened (``update``, ``status.update``, ``delete``); ``wire_event`` is the
    event name actually written (it differs only for an injected ``unknown_event`` frame).
    ``data`` is the SSE data text exactly as sent (the Status JSON, or the bare id of a delete;
    ``""`` when an injected ``no_data`` frame had no data line; for ``invalid_utf8`` the bytes are
    decoded with ``backslashreplace``, and ``raw`` holds the exact bytes).
    ``streams`` are the stream names the event was published to under the instance's feed
    settings (``public``, ``public:local``/``public:remote``, their ``:media`` variants for
    statuses with media, ``hashtag:<tag>``, ``hashtag:local:<tag>`` for local statuses,
    ``list:<id>``); ``written_to`` those of them on which at least one open, unstalled
    connection was actually written, and ``written`` whether any was.
    """

    seq: int
    event: str
    data: str
    status_id: str
    streams: frozenset[str]
    emitted_at: dt.datetime
    written: bool
    written_to: frozenset[str]
    wire_event: str
    malformed: str | None = None
    known_status: bool = True
    raw: bytes = field(default=b"", repr=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "event": self.event,
            "wire_event": self.wire_event,
            "data": self.data,
            "status_id": self.status_id,
            "known_status": self.known_status,
            "streams": sorted(self.streams),
            "emitted_at": self.emitted_at.isoformat(),
            "written": self.written,
            "written_to": sorted(self.written_to),
            "malformed": self.malformed,
        }
        if self.malformed is not None:
            out["raw_b64"] = base64.b64encode(self.raw).decode("ascii")
        return out


@dataclass(frozen=True)
class StatusTruth:
    """What the instance knows about one status at snapshot time.

    ``status`` is the Status entity as ``GET /api/v1/statuses/:id`` would return it at that
    moment (for a deleted status: as it was when deleted). ``versions`` lists every revision,
    the original first. ``published_at`` is when it appeared on this instance, which for a
    back-dated remote post is later than ``created_at`` by ``backdated_seconds``.
    """

    id: str
    status: dict[str, Any]
    deleted: bool
    deleted_at: dt.datetime | None
    versions: list[dict[str, Any]]
    tags: list[str]
    mentions: list[str]
    local: bool
    created_at: dt.datetime
    published_at: dt.datetime
    published_seq: int
    backdated_seconds: float
    on_public_timeline: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "deleted": self.deleted,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
            "versions": self.versions,
            "tags": self.tags,
            "mentions": self.mentions,
            "local": self.local,
            "created_at": self.created_at.isoformat(),
            "published_at": self.published_at.isoformat(),
            "published_seq": self.published_seq,
            "backdated_seconds": self.backdated_seconds,
            "on_public_timeline": self.on_public_timeline,
        }


class GroundTruth:
    """A consistent snapshot of everything the instance has done.

    * ``events``: list of :class:`Event`, in broadcast order;
    * ``statuses``: dict status id (str) -> :class:`StatusTruth`, every status ever published,
      deleted ones included with ``deleted=True`` (deletes of never-published ids appear only as
      events, with ``known_status=False``);
    * ``accounts``: dict account id (str) -> Account entity, every account the instance knows
      (posters, accounts that are only ever mentioned, and the ingest account).
    """

    def __init__(
        self,
        seq: int,
        taken_at: dt.datetime,
        events: list[Event],
        records: list[StatusRecord],
        renderer: Renderer,
        domain: str,
    ) -> None:
        self.seq = seq
        self.taken_at = taken_at
        self.events = events
        self.domain = domain
        self._records = records
        self._renderer = renderer

    @cached_property
    def statuses(self) -> dict[str, StatusTruth]:
        out: dict[str, StatusTruth] = {}
        for record in self._records:
            deleted = record.deleted_by(self.seq)
            at_seq = record.deleted_seq - 1 if deleted and record.deleted_seq else self.seq
            at_seq = max(at_seq, record.published_seq)
            entity = self._renderer.status(record, at_seq, self.taken_at)
            version = record.version_at(at_seq)
            out[str(record.id)] = StatusTruth(
                id=str(record.id),
                status=entity,
                deleted=deleted,
                deleted_at=record.deleted_at if deleted else None,
                versions=[version_summary(v) for v in record.versions_at(at_seq)],
                tags=[t["name"] for t in entity["tags"]],
                mentions=[self._renderer.directory.get(i).acct() for i in version.mention_ids],
                local=record.local,
                created_at=record.created_at,
                published_at=record.published_at,
                published_seq=record.published_seq,
                backdated_seconds=record.backdated_seconds,
                on_public_timeline=record.on_public_timeline,
            )
        return out

    @cached_property
    def accounts(self) -> dict[str, dict[str, Any]]:
        directory = self._renderer.directory
        return {str(a.id): self._renderer.account(a, self.seq) for a in directory.accounts.values()}

    def status(self, status_id: str | int) -> StatusTruth:
        return self.statuses[str(status_id)]

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.event == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "seq": self.seq,
            "taken_at": iso_ms(self.taken_at),
            "events": [e.to_json() for e in self.events],
            "statuses": {k: v.to_json() for k, v in self.statuses.items()},
            "accounts": self.accounts,
        }


class Store:
    """Mutable state of the instance. Hold ``lock`` for every read or write."""

    def __init__(self, directory: Directory, clock: Callable[[], dt.datetime]) -> None:
        self.lock = threading.RLock()
        self.directory = directory
        self.clock = clock
        self.statuses: dict[int, StatusRecord] = {}
        self.by_id: list[int] = []
        self.published: list[int] = []
        self.events: list[Event] = []
        self.seq = 0
        self.ids = SnowflakeAllocator()
        self.renderer = Renderer(directory, self.statuses)

    def add_status(self, record: StatusRecord) -> None:
        self.statuses[record.id] = record
        bisect.insort(self.by_id, record.id)
        self.published.append(record.id)
        self.directory.get(record.account_id).status_ids.append(record.id)
        if record.in_reply_to_id is not None:
            parent = self.statuses.get(record.in_reply_to_id)
            if parent is not None:
                parent.reply_ids.append(record.id)

    def get_live(self, status_id: int) -> StatusRecord | None:
        """A status that exists now (published, not deleted)."""
        record = self.statuses.get(status_id)
        if record is None or record.deleted_seq is not None:
            return None
        return record

    def recent_alive(self, window: int) -> list[StatusRecord]:
        """The live statuses among the last ``window`` published, oldest first."""
        return [r for i in self.published[-window:] if (r := self.statuses[i]).deleted_seq is None]

    def newest_first(self, max_id: int | None = None, since_id: int | None = None) -> Iterator[StatusRecord]:
        end = bisect.bisect_left(self.by_id, max_id) if max_id is not None else len(self.by_id)
        for index in range(end - 1, -1, -1):
            status_id = self.by_id[index]
            if since_id is not None and status_id <= since_id:
                return
            yield self.statuses[status_id]

    def oldest_first(self, min_id: int, max_id: int | None = None) -> Iterator[StatusRecord]:
        start = bisect.bisect_right(self.by_id, min_id)
        for index in range(start, len(self.by_id)):
            status_id = self.by_id[index]
            if max_id is not None and status_id >= max_id:
                return
            yield self.statuses[status_id]

    def snapshot(self) -> GroundTruth:
        with self.lock:
            return GroundTruth(
                seq=self.seq,
                taken_at=self.clock(),
                events=list(self.events),
                records=[self.statuses[i] for i in self.published],
                renderer=self.renderer,
                domain=self.directory.instance_domain,
            )
