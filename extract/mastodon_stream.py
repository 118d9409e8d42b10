"""One live stream of one instance: connect, read raw SSE events, watch the heartbeat, reconnect, back-fill.

* Watchdog: the read timeout is the heartbeat timeout. Mastodon sends ``:thump`` every 15 s, so silence
  longer than ``heartbeat_timeout_seconds`` means the connection is dead even if TCP has not noticed.
* Reconnect with exponential back-off and full jitter (never the fixed 5 s of Mastodon.py), reset after a
  connection that delivered data.
* After every reconnect, and at start-up after a previous run, the gap since the last data received is
  handed to the instance's back-filler (which adds an overlap and dedupes), so nothing sent while
  disconnected is lost.
* Authentication and channel errors (401, 400, 404) end this stream with one clear sentence; other
  failures (5xx, 429, network) are retried.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote

import requests

from extract.backfill import Backfiller, BackfillJob, SeenStatuses
from extract.checkpoints import CheckpointStore
from extract.events import RawEvent
from extract.mastodon_client import USER_AGENT
from extract.sse import Heartbeat, SseEvent, parse
from orchestration.config import ExtractConfig, InstanceConfig

log = logging.getLogger(__name__)


def streaming_path(stream: str) -> str:
    if stream == "public":
        return "/api/v1/streaming/public"
    if stream == "public:local":
        return "/api/v1/streaming/public/local"
    if stream == "public:remote":
        return "/api/v1/streaming/public/remote"
    if stream.startswith("hashtag:local:"):
        return "/api/v1/streaming/hashtag/local?tag=" + quote(stream.split(":", 2)[2])
    if stream.startswith("hashtag:"):
        return "/api/v1/streaming/hashtag?tag=" + quote(stream.split(":", 1)[1])
    if stream.startswith("list:"):
        return "/api/v1/streaming/list?list=" + quote(stream.split(":", 1)[1])
    raise ValueError(f"unknown stream {stream!r}")


class FatalStreamError(Exception):
    """This stream cannot work as configured; the message is one sentence for the user."""


@dataclass
class StreamStats:
    events: int = 0
    heartbeats: int = 0
    connects: int = 0
    reconnects: int = 0
    last_event_at: datetime | None = None
    last_data_at: datetime | None = None
    by_type: dict[str, int] = field(default_factory=dict)


class StreamWorker(threading.Thread):
    """Reads one stream until stopped; every event goes to ``sink`` (the durable buffer) first."""

    def __init__(self, instance: InstanceConfig, stream: str, streaming_base: str,
                 sink: Callable[[RawEvent], None], backfiller: Backfiller, seen: SeenStatuses,
                 settings: ExtractConfig, checkpoints: CheckpointStore, stop_event: threading.Event,
                 on_fatal: Callable[[str, str], None]) -> None:
        super().__init__(name=f"stream-{instance.instance_id}-{stream}", daemon=True)
        self.instance = instance
        self.stream = stream
        self.url = streaming_base.rstrip("/") + streaming_path(stream)
        self.sink = sink
        self.backfiller = backfiller
        self.seen = seen
        self.settings = settings
        self.checkpoints = checkpoints
        self.stop_event = stop_event
        self.on_fatal = on_fatal
        self.stats = StreamStats()
        self._response: requests.Response | None = None
        self._session = requests.Session()
        self.connected = threading.Event()
        self.failed: str | None = None
        self.gaps = 0

    # -- control ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop reading: close the open response so a blocked read returns at once."""
        self.stop_event.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # closing a dying connection may raise anything
                response.close()

    def run(self) -> None:
        try:
            self._run()
        except FatalStreamError as exc:
            self.failed = str(exc)
            self.on_fatal(self.stream, str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. the buffer cannot be written: stop, loudly
            if self.stop_event.is_set() and not isinstance(exc, OSError):
                return  # the connection was closed under the reader to stop it: not a failure
            self.failed = str(exc)
            self.on_fatal(self.stream, str(exc))

    def _run(self) -> None:
        last_seen = self.checkpoints.last_data_at(self.instance.instance_id, self.stream)
        if last_seen is not None:
            self._backfill(last_seen, "catch-up after restart")
        elif self.settings.backfill_on_start_hours > 0:
            since = datetime.now(timezone.utc).timestamp() - self.settings.backfill_on_start_hours * 3600
            self._backfill(datetime.fromtimestamp(since, timezone.utc), "initial back-fill")
        delay = self.settings.reconnect_initial_seconds
        gap_since: datetime | None = None
        while not self.stop_event.is_set():
            delivered = False
            try:
                delivered = self._read_once(gap_since)
                reason = "the server closed the stream"
            except requests.exceptions.ConnectionError as exc:
                reason = "no heartbeat within the timeout" if "timed out" in str(exc).lower() \
                    else "the connection failed"
            except requests.exceptions.ChunkedEncodingError:
                reason = "the connection was cut"
            except requests.exceptions.RequestException as exc:
                reason = type(exc).__name__
            finally:
                self._response = None
            if self.stop_event.is_set():
                break
            gap_since = self.stats.last_data_at or gap_since or datetime.now(timezone.utc)
            if delivered:
                delay = self.settings.reconnect_initial_seconds
            wait = random.uniform(delay / 2, delay)
            self.stats.reconnects += 1
            log.warning("%s %s: %s; reconnecting in %.1f s", self.instance.instance_id, self.stream, reason, wait)
            self.stop_event.wait(wait)
            delay = min(self.settings.reconnect_max_seconds, delay * 2)

    def _backfill(self, since: datetime, reason: str) -> None:
        """Queue a back-fill of this stream since ``since``; the checkpoint stays before it until done."""
        instance_id = self.instance.instance_id
        hold = self.checkpoints.hold(instance_id, self.stream, since)
        self.gaps += 1
        self.backfiller.submit(BackfillJob(self.stream, since, reason=reason,
                                           on_done=lambda: self.checkpoints.release(instance_id, self.stream, hold)))

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        token = self.instance.access_token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _read_once(self, gap_since: datetime | None) -> bool:
        """One connection; returns whether it delivered any data. Raises FatalStreamError on 4xx."""
        response = self._session.get(self.url, headers=self._headers(), stream=True,
                                     timeout=(10, self.settings.heartbeat_timeout_seconds))
        self._response = response
        if response.status_code in (401, 403):
            detail = _error_text(response)
            if self.instance.access_token:
                raise FatalStreamError(f"{self.instance.url} rejected the access token in "
                                       f"{self.instance.access_token_env} for stream {self.stream} ({detail}).")
            raise FatalStreamError(f"{self.instance.url} needs a user access token for stream {self.stream} "
                                   f"({detail}); put one in the environment variable "
                                   f"{self.instance.access_token_env or 'named by access_token_env'}.")
        if response.status_code in (400, 404, 422):
            raise FatalStreamError(f"{self.instance.url} does not offer stream {self.stream} "
                                   f"({response.status_code} {_error_text(response)}).")
        if response.status_code != 200:
            response.close()
            raise requests.exceptions.ConnectionError(f"HTTP {response.status_code}")
        self.stats.connects += 1
        self.connected.set()
        if gap_since is not None:
            # The stream is up again: fetch what it missed while it was down, concurrently with reading.
            self._backfill(gap_since, "reconnect gap")
        delivered = False
        for item in parse(response.iter_content(chunk_size=None)):
            now = datetime.now(timezone.utc)
            if isinstance(item, Heartbeat):
                self.stats.heartbeats += 1
            elif isinstance(item, SseEvent):
                self._handle(item, now)
            self.stats.last_data_at = now
            self.checkpoints.note(self.instance.instance_id, self.stream, now)
            delivered = True
            if self.stop_event.is_set():
                break
        return delivered

    def _handle(self, item: SseEvent, now: datetime) -> None:
        self.sink(RawEvent(self.instance.instance_id, self.instance.url, self.stream, "stream", item.event, now,
                           item.data))
        self.stats.events += 1
        self.stats.last_event_at = now
        self.stats.by_type[item.event] = self.stats.by_type.get(item.event, 0) + 1
        if item.event in ("update", "status.update") and item.data:
            try:
                status = json.loads(item.data)
            except ValueError:
                return
            if isinstance(status, dict):
                self.seen.remember(status)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return f"{response.status_code} {body['error']}"
    except ValueError:
        pass
    return f"{response.status_code} {response.reason}"
