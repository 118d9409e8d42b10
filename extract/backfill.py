"""REST back-fill: fetch what a stream missed, because Mastodon's streams have no replay.

A gap is fetched forward with ``min_id`` paging from a snowflake id made from the gap's start *minus an
overlap*: remote posts carry ids derived from their original ``created_at``, so a post that federates late
has an id below posts already seen, and paging by id alone would skip it. The overlap brings back posts the
stream already delivered; they are recognised by status id (and ``uri``) and not stored twice.

Requests go through Mastodon.py in ``wait`` mode, which reads the rate-limit headers and sleeps until the
window resets on a 429; server errors are retried with exponential back-off until the gap is filled or the
process stops. One back-filler per instance runs its jobs one at a time, so they share the token's budget.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from mastodon import MastodonError, MastodonNotFoundError, MastodonUnauthorizedError

from extract.events import RawEvent
from extract.mastodon_client import make_client
from orchestration.config import InstanceConfig

log = logging.getLogger(__name__)


def snowflake_for(moment: datetime) -> int:
    """The smallest Mastodon id a status created at ``moment`` can have."""
    return int(moment.timestamp() * 1000) << 16


def endpoint_for(stream: str) -> str:
    """The REST timeline that holds what a stream delivers (stored as the ``stream`` of back-fill rows)."""
    if stream == "public":
        return "/api/v1/timelines/public"
    if stream == "public:local":
        return "/api/v1/timelines/public?local=true"
    if stream == "public:remote":
        return "/api/v1/timelines/public?remote=true"
    if stream.startswith("hashtag:local:"):
        return f"/api/v1/timelines/tag/{stream.split(':', 2)[2]}?local=true"
    if stream.startswith("hashtag:"):
        return f"/api/v1/timelines/tag/{stream.split(':', 1)[1]}"
    if stream.startswith("list:"):
        return f"/api/v1/timelines/list/{stream.split(':', 1)[1]}"
    raise ValueError(f"no timeline for stream {stream!r}")


class SeenStatuses:
    """Bounded memory of the status versions already captured, by id and by ``uri``.

    Shared by an instance's streams and its back-filler, so that the overlap of a back-fill does not store
    again what a stream delivered. A status seen again with a new ``edited_at`` is a new version: it is new.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._versions: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(status: dict[str, Any]) -> list[tuple[str, str]]:
        keys = []
        if status.get("id"):
            keys.append(("id", str(status["id"])))
        if isinstance(status.get("uri"), str):
            keys.append(("uri", status["uri"]))
        return keys

    @staticmethod
    def version_of(status: dict[str, Any]) -> str:
        return str(status.get("edited_at") or status.get("created_at") or "")

    def remember(self, status: dict[str, Any]) -> None:
        version = self.version_of(status)
        with self._lock:
            for key in self._keys(status):
                self._versions[key] = version
                self._versions.move_to_end(key)
            while len(self._versions) > self.capacity:
                self._versions.popitem(last=False)

    def preload(self, rows: list[tuple[str | None, str | None, str | None]]) -> None:
        """Remember versions already in the warehouse: ``(status id, uri, edited_at or created_at)``."""
        with self._lock:
            for status_id, uri, version in rows:
                for key in ((("id", status_id),) if status_id else ()) + ((("uri", uri),) if uri else ()):
                    self._versions[key] = version or ""
            while len(self._versions) > self.capacity:
                self._versions.popitem(last=False)

    def is_new(self, status: dict[str, Any]) -> bool:
        version = self.version_of(status)
        with self._lock:
            return not any(self._versions.get(key) == version for key in self._keys(status))


@dataclass
class BackfillJob:
    stream: str
    since: datetime
    until: datetime | None = None
    reason: str = "gap"
    on_done: Callable[[], None] | None = None


@dataclass
class BackfillResult:
    pages: int = 0
    fetched: int = 0
    stored: int = 0
    complete: bool = False


class Backfiller:
    """Fills gaps for one instance, one job at a time, on its own thread."""

    def __init__(self, instance: InstanceConfig, sink: Callable[[RawEvent], None], seen: SeenStatuses, *,
                 page_size: int = 40, overlap_seconds: float = 300.0, stop_event: threading.Event | None = None,
                 max_retry_seconds: float = 60.0) -> None:
        self.instance = instance
        self.sink = sink
        self.seen = seen
        self.page_size = page_size
        self.overlap = timedelta(seconds=overlap_seconds)
        self.stop_event = stop_event or threading.Event()
        self.max_retry_seconds = max_retry_seconds
        self._jobs: queue.Queue[BackfillJob | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.recovered = 0
        self.gaps_filled = 0
        self.last_error: str | None = None
        self._client = None
        self._capture = None

    # -- the worker thread ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"backfill-{self.instance.instance_id}",
                                        daemon=True)
        self._thread.start()

    def submit(self, job: BackfillJob) -> None:
        self._idle.clear()
        self._jobs.put(job)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self.stop_event.is_set():
                break
            try:
                result = self.fill(job)
                self.gaps_filled += 1
                log.info("%s %s: back-filled %s (%d fetched, %d new) since %s", self.instance.instance_id,
                         job.stream, job.reason, result.fetched, result.stored, job.since.isoformat())
            except Exception as exc:  # noqa: BLE001 - a job must never kill the thread
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("%s %s: back-fill failed: %s", self.instance.instance_id, job.stream, self.last_error)
            else:
                if result.complete and job.on_done is not None:
                    job.on_done()
            finally:
                if self._jobs.empty():
                    self._idle.set()

    # -- one job ----------------------------------------------------------------------------------
    def _get_client(self):
        if self._client is None:
            self._client, self._capture = make_client(self.instance.url, self.instance.access_token)
        return self._client, self._capture

    def _fetch_page(self, stream: str, min_id: int) -> bytes:
        client, capture = self._get_client()
        kwargs: dict[str, Any] = {"min_id": str(min_id), "limit": self.page_size}
        if stream == "public":
            client.timeline_public(**kwargs)
        elif stream == "public:local":
            client.timeline_public(local=True, **kwargs)
        elif stream == "public:remote":
            client.timeline_public(remote=True, **kwargs)
        elif stream.startswith("hashtag:local:"):
            client.timeline_hashtag(stream.split(":", 2)[2], local=True, **kwargs)
        elif stream.startswith("hashtag:"):
            client.timeline_hashtag(stream.split(":", 1)[1], **kwargs)
        elif stream.startswith("list:"):
            client.timeline_list(stream.split(":", 1)[1], **kwargs)
        else:
            raise ValueError(f"no timeline for stream {stream!r}")
        assert capture.last is not None
        return capture.last.content

    def _fetch_with_retry(self, stream: str, min_id: int) -> bytes | None:
        delay = 1.0
        while not self.stop_event.is_set():
            try:
                return self._fetch_page(stream, min_id)
            except (MastodonUnauthorizedError, MastodonNotFoundError):
                raise
            except MastodonError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                wait = random.uniform(0, min(self.max_retry_seconds, delay))
                log.warning("%s %s: back-fill request failed (%s); retrying in %.1f s", self.instance.instance_id,
                            stream, type(exc).__name__, wait)
                self.stop_event.wait(wait)
                delay *= 2
        return None

    def fill(self, job: BackfillJob) -> BackfillResult:
        """Fetch every status of the stream's timeline created since ``job.since`` (minus the overlap)."""
        result = BackfillResult()
        cursor = snowflake_for(job.since - self.overlap)
        upper = snowflake_for(job.until) if job.until else None
        endpoint = endpoint_for(job.stream)
        while not self.stop_event.is_set():
            content = self._fetch_with_retry(job.stream, cursor)
            if content is None:
                break
            received_at = datetime.now(timezone.utc)
            try:
                page = json.loads(content)
            except ValueError:
                page = None
            if not isinstance(page, list):
                # Keep what the server said, flagged, and stop this job: paging cannot go on from it.
                self.sink(RawEvent(self.instance.instance_id, self.instance.url, endpoint, "backfill", "update",
                                   received_at, content))
                break
            result.pages += 1
            if not page:
                result.complete = True
                break
            ids = []
            for status in page:
                result.fetched += 1
                status_id = str(status.get("id", "")) if isinstance(status, dict) else ""
                if status_id.isdigit():
                    ids.append(int(status_id))
                if upper is not None and status_id.isdigit() and int(status_id) > upper:
                    continue
                if isinstance(status, dict) and not self.seen.is_new(status):
                    continue
                payload = json.dumps(status, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                self.sink(RawEvent(self.instance.instance_id, self.instance.url, endpoint, "backfill", "update",
                                   received_at, payload))
                if isinstance(status, dict):
                    self.seen.remember(status)
                result.stored += 1
            if not ids or max(ids) <= cursor:
                result.complete = True
                break
            cursor = max(ids)
            if upper is not None and cursor >= upper:
                result.complete = True
                break
            time.sleep(0)  # let the stream threads run between pages
        self.recovered += result.stored
        return result
