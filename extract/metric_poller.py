"""Metric polling: refresh the engagement counts of recent posts, because streams never resend them.

Which posts, and when, is decided from ``raw`` alone (see ``extract.poll_schedule``); this module fetches
them and turns every answer into raw events:

* **Batch first.** ``GET /api/v1/statuses?id[]=…`` (Mastodon 4.3+, up to 20 ids; Mastodon.py's
  ``Mastodon.statuses``) answers the present statuses and silently omits the others. A 404 or 422 on that
  path means the server does not have it: the poller then fetches ``GET /api/v1/statuses/:id`` one by
  one (``Mastodon.status``) for the rest of the run on that instance.
* **Raw bytes.** Each Status is stored exactly as the server sent it: a batch answer is split into its
  array elements without re-serialising (``split_json_array``). Rows are
  ``RawEvent(stream="/api/v1/statuses", source="poll", event_type="poll")``; an answer that is not the
  expected JSON is stored too, and ``extract.events.normalise`` flags it.
* **Missing.** A status absent from a batch answer, or a 404/410 on the single endpoint, is recorded as a
  ``poll.missing`` event whose payload is the status id as text. A miss is *confirmed* — the status
  counts as deleted and is no longer polled — when at least two consecutive ``poll.missing`` rows exist
  for it (no ``update``, ``status.update`` or ``poll`` of it received after the first), the latest received
  at least ``poll.confirm_missing_after_minutes`` after the first. A single miss is retried after
  ``min(tier interval, confirm_missing_after_minutes)``; a status that answers again starts over. (The
  payload of every ``poll.missing`` of a status is the same, so the rows share an ``event_id``: a model
  applying this rule must count rows by ``received_at``, not deduplicated events.)
* **Rate limits.** Every request first asks the instance's ``RateBudget`` (``extract.rate_budget``):
  polling uses at most ``poll.budget_share`` of each rate-limit window and leaves the rest to the
  streamer's back-fill; a 429 waits until the window's reset. Mastodon.py runs in ``throw`` mode so that
  these waits are the poller's own and can be interrupted.
* **Errors.** A 5xx or a network failure is retried with exponential back-off (with jitter) up to
  ``max_attempts`` times; statuses still not fetched stay due and come first next cycle. Another client
  error (403, say) is noted and the statuses stay due. A rejected token (401) stops polling that instance
  with one sentence (the token itself is never shown).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mastodon import Mastodon, MastodonError

from extract.events import RawEvent
from extract.mastodon_client import CapturedResponse, RawCapture, make_client
from extract.rate_budget import RateBudget
from orchestration.config import MAX_POLL_BATCH, InstanceConfig
from orchestration.errors import UserError

log = logging.getLogger(__name__)

POLL_STREAM = "/api/v1/statuses"
MISSING_STATUSES = frozenset({404, 410})
NO_BATCH_STATUSES = frozenset({404, 422})
ClientFactory = Callable[..., tuple[Mastodon, RawCapture]]


class PollAuthError(UserError):
    """The instance rejected the configured access token: polling it cannot go on."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def split_json_array(content: bytes) -> list[tuple[bytes, Any]] | None:
    """The elements of a JSON array as ``(exact bytes, parsed value)``; None when ``content`` is not one.

    The bytes of each element are a slice of ``content`` (whitespace around it excluded), so what is stored
    is what the server sent, not a re-serialisation.
    """
    text = content.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder()
    length = len(text)

    def skip(position: int) -> int:
        while position < length and text[position] in " \t\r\n":
            position += 1
        return position

    position = skip(1 if text.startswith("\ufeff") else 0)
    if position >= length or text[position] != "[":
        return None
    position = skip(position + 1)
    elements: list[tuple[bytes, Any]] = []
    if position < length and text[position] == "]":
        return elements if skip(position + 1) == length else None
    while True:
        try:
            value, end = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            return None
        elements.append((text[position:end].encode("utf-8", "surrogateescape"), value))
        position = skip(end)
        if position < length and text[position] == ",":
            position = skip(position + 1)
            continue
        if position < length and text[position] == "]":
            return elements if skip(position + 1) == length else None
        return None


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        status_id = value.get("id")
        if isinstance(status_id, (str, int)) and not isinstance(status_id, bool):
            return str(status_id)
    return None


@dataclass
class RefreshResult:
    """What one refresh of an instance's due statuses did (for the cycle line and for tests)."""

    asked: int = 0
    refreshed: int = 0  # ``poll`` events written for asked statuses
    missing: int = 0  # ``poll.missing`` events written
    unfetched: int = 0  # asked statuses neither refreshed nor missing (errors, stop): still due next cycle
    requests: int = 0
    batch_requests: int = 0
    single_requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    throttled: int = 0  # 429 answers
    errors: list[str] = field(default_factory=list)


class MetricPoller:
    """Refreshes statuses of one instance through Mastodon.py, writing events to ``sink``.

    One instance per monitored Mastodon instance for the whole run: it remembers whether the batch
    endpoint exists there and keeps the rate budget across cycles.
    """

    def __init__(self, instance: InstanceConfig, sink: Callable[[RawEvent], None], *, batch_size: int = 20,
                 budget_share: float = 0.5, stop_event: threading.Event | None = None,
                 clock: Callable[[], datetime] = _utc_now, client_factory: ClientFactory = make_client,
                 max_attempts: int = 5, retry_initial_seconds: float = 1.0,
                 retry_max_seconds: float = 60.0) -> None:
        if not 1 <= batch_size <= MAX_POLL_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_POLL_BATCH}")
        self.instance = instance
        self.sink = sink
        self.batch_size = batch_size
        self.stop_event = stop_event or threading.Event()
        self.budget = RateBudget(budget_share, stop_event=self.stop_event)
        self.clock = clock
        self.client_factory = client_factory
        self.max_attempts = max_attempts
        self.retry_initial_seconds = retry_initial_seconds
        self.retry_max_seconds = retry_max_seconds
        self.batch_endpoint: bool | None = None  # None until the server has answered a batch request
        self._client: Mastodon | None = None
        self._capture: RawCapture | None = None

    # -- requests ---------------------------------------------------------------------------------
    def _get_client(self) -> tuple[Mastodon, RawCapture]:
        if self._client is None or self._capture is None:
            self._client, self._capture = self.client_factory(self.instance.url, self.instance.access_token,
                                                              ratelimit_method="throw")
        return self._client, self._capture

    def _request(self, call: Callable[[Mastodon], object], what: str,
                 result: RefreshResult) -> CapturedResponse | None:
        """One request within the budget: the answer (2xx, or a 4xx the caller interprets), or None when
        it failed for good (retries exhausted, a client error, or the poller was stopped)."""
        client, capture = self._get_client()
        delay = self.retry_initial_seconds
        attempts = 0
        while True:
            if not self.budget.acquire():
                return None
            before = capture.last
            failure: str | None = None
            try:
                call(client)
            except MastodonError as exc:
                failure = type(exc).__name__
            answer = capture.last if capture.last is not before else None
            result.requests += 1
            self.budget.record(answer.status_code if answer else None, answer.headers if answer else None)
            status = answer.status_code if answer else None
            if status is not None and (200 <= status < 300 or status in MISSING_STATUSES | NO_BATCH_STATUSES):
                return answer
            if status == 429:
                continue  # the budget now waits until the window resets
            if status == 401:
                raise PollAuthError(
                    f"{self.instance.instance_id} refused the access token (HTTP {status}) while polling metrics; "
                    f"check {self.instance.access_token_env or 'the instance token'}.")
            if status is not None and status < 500:
                result.errors.append(f"{what}: HTTP {status}")
                return None
            attempts += 1
            reason = f"HTTP {status}" if status is not None else (failure or "no answer")
            if attempts >= self.max_attempts:
                result.errors.append(f"{what}: {reason} after {attempts} attempts")
                return None
            result.retries += 1
            pause = random.uniform(delay / 2, delay)
            log.warning("%s: %s failed (%s); retrying in %.1f s", self.instance.instance_id, what, reason, pause)
            if self.stop_event.wait(pause):
                return None
            delay = min(delay * 2, self.retry_max_seconds)

    # -- events -----------------------------------------------------------------------------------
    def _emit(self, event_type: str, payload: bytes, received_at: datetime) -> None:
        self.sink(RawEvent(self.instance.instance_id, self.instance.url, POLL_STREAM, "poll", event_type,
                           received_at, payload))

    def _missing(self, status_id: str, received_at: datetime, result: RefreshResult) -> None:
        self._emit("poll.missing", status_id.encode("ascii"), received_at)
        result.missing += 1

    # -- refreshing -------------------------------------------------------------------------------
    def _fetch_batch(self, ids: list[str], result: RefreshResult) -> bool:
        """Refresh ``ids`` with one batch request; False when the server has no batch endpoint."""
        answer = self._request(lambda client: client.statuses(list(ids)), f"batch of {len(ids)}", result)
        if answer is None:
            result.unfetched += len(ids)
            return True
        result.batch_requests += 1
        if answer.status_code in NO_BATCH_STATUSES:
            self.batch_endpoint = False
            return False
        self.batch_endpoint = True
        received_at = self.clock()
        elements = split_json_array(answer.content)
        if elements is None:
            # Keep what the server said (normalise flags it); the statuses stay due.
            self._emit("poll", answer.content, received_at)
            result.errors.append(f"batch of {len(ids)}: the answer is not a JSON array")
            result.unfetched += len(ids)
            return True
        wanted = set(ids)
        found: set[str] = set()
        for raw, value in elements:
            self._emit("poll", raw, received_at)
            status_id = _id_of(value)
            if status_id in wanted and status_id not in found:
                found.add(status_id)
                result.refreshed += 1
        for status_id in ids:
            if status_id not in found:
                self._missing(status_id, received_at, result)
        return True

    def _fetch_single(self, status_id: str, result: RefreshResult) -> None:
        answer = self._request(lambda client: client.status(status_id), f"status {status_id}", result)
        if answer is None:
            result.unfetched += 1
            return
        result.single_requests += 1
        received_at = self.clock()
        if answer.status_code in MISSING_STATUSES:
            self._missing(status_id, received_at, result)
        elif 200 <= answer.status_code < 300:
            self._emit("poll", answer.content, received_at)
            result.refreshed += 1
        else:  # 422 on a single status: nothing to record
            result.errors.append(f"status {status_id}: HTTP {answer.status_code}")
            result.unfetched += 1

    def refresh(self, status_ids: Sequence[str]) -> RefreshResult:
        """Refresh these statuses, in this order (most overdue first), within the rate budget.

        Raises :class:`PollAuthError` when the token is refused; anything fetched before that is already in
        the sink.
        """
        result = RefreshResult(asked=len(status_ids))
        throttled_before, waits_before = self.budget.throttled, self.budget.waits
        pending = list(status_ids)
        index = 0
        while index < len(pending):
            if self.stop_event.is_set():
                result.unfetched += len(pending) - index
                break
            if self.batch_endpoint is not False:
                chunk = pending[index:index + self.batch_size]
                if self._fetch_batch(chunk, result):
                    index += len(chunk)
                    continue
                log.info("%s: no batch statuses endpoint; fetching statuses one by one", self.instance.instance_id)
            self._fetch_single(pending[index], result)
            index += 1
        result.throttled = self.budget.throttled - throttled_before
        result.rate_limit_waits = self.budget.waits - waits_before
        return result
