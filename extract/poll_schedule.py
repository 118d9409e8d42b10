"""Which posts the metric poller refreshes, and in which order: derived from ``raw`` alone.

The poller keeps no state of its own. Every cycle reads, per instance, what ``raw.stream_events`` says
about each status received within the horizon (plus an hour of slack for clock skew):

* ``created_at`` — from the Status payload of any ``update``, ``status.update`` or ``poll`` row; when no
  payload carries a readable one (an escaped payload), from the snowflake id (``id >> 16`` is the
  creation time in milliseconds);
* ``last_observed_at`` — the latest ``received_at`` of *any* row with that status id (a stream event, a
  back-fill, a poll, a ``poll.missing``), so a restarted poller resumes exactly where raw says it is;
* deletion — a ``delete`` row, or a confirmed miss (see :func:`is_confirmed_missing`);
* the current run of misses — ``poll.missing`` rows received after the latest successful observation
  (``update``, ``status.update`` or ``poll``): a status that answers again starts over.

Boosts (a payload whose ``reblog`` is a Status) are not polled: their counts are the original's.

A post is due when ``now − last_observed_at ≥`` its tier's interval, the tier being the first whose
``max_age_minutes`` is above the post's age; a post with an unconfirmed miss is retried after
``min(tier interval, confirm_missing_after_minutes)``. All due posts are returned, most overdue first —
no "top N" cut-off, so a post that started quietly is refreshed like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg2

from orchestration.config import PollConfig, PollTier

CLOCK_SKEW_SLACK = timedelta(hours=1)

_KNOWN_STATUSES_SQL = """
with events as (
    select
        payload_status_id as status_id,
        event_type,
        received_at,
        case when event_type in ('update', 'status.update', 'poll') and jsonb_typeof(payload) = 'object'
             then payload->>'created_at' end as created_at,
        coalesce(event_type in ('update', 'status.update', 'poll') and jsonb_typeof(payload) = 'object'
                 and jsonb_typeof(payload->'reblog') = 'object', false) as is_reblog
    from raw.stream_events
    where instance_id = %(instance_id)s
      and received_at >= %(since)s
      and payload_status_id is not null
      and event_type in ('update', 'status.update', 'poll', 'delete', 'poll.missing')
),

statuses as (
    select
        status_id,
        max(created_at) as created_at,
        max(received_at) as last_observed_at,
        max(received_at) filter (where event_type in ('update', 'status.update', 'poll')) as last_found_at,
        bool_or(event_type = 'delete') as deleted,
        bool_or(is_reblog) as is_reblog
    from events
    group by status_id
)

select
    statuses.status_id,
    statuses.created_at,
    statuses.last_observed_at,
    count(misses.received_at) as misses,
    min(misses.received_at) as first_miss_at,
    max(misses.received_at) as last_miss_at
from statuses
left join events as misses
    on misses.status_id = statuses.status_id
    and misses.event_type = 'poll.missing'
    and misses.received_at > statuses.last_found_at
where statuses.last_found_at is not null and not statuses.deleted and not statuses.is_reblog
group by statuses.status_id, statuses.created_at, statuses.last_observed_at
"""


@dataclass(frozen=True)
class KnownStatus:
    """What raw says about one status of an instance (not deleted by a ``delete`` event)."""

    status_id: str
    created_at: datetime
    last_observed_at: datetime
    misses: int = 0
    first_miss_at: datetime | None = None
    last_miss_at: datetime | None = None


@dataclass(frozen=True)
class DueStatus:
    """A status to refresh this cycle: its tier's interval and how far past it the status is."""

    status_id: str
    created_at: datetime
    last_observed_at: datetime
    interval: timedelta
    overdue: timedelta
    misses: int


@dataclass(frozen=True)
class Schedule:
    """The outcome of scheduling one instance: what is due, and what is tracked or gone."""

    due: list[DueStatus]
    tracked: int  # statuses within the horizon, not deleted
    confirmed_missing: int  # statuses no longer polled because their miss was confirmed


def snowflake_time(status_id: str) -> datetime | None:
    """The creation time a Mastodon snowflake id encodes (None for an id that is not one)."""
    try:
        return datetime.fromtimestamp((int(status_id) >> 16) / 1000, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def parse_created_at(text: str | None) -> datetime | None:
    """Mastodon's ``2026-11-25T12:00:00.000Z`` as an aware datetime (None when unreadable)."""
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def interval_for(age: timedelta, tiers: Sequence[PollTier]) -> timedelta:
    """The refresh interval of a post of this age (the last tier's beyond the last boundary)."""
    minutes = age.total_seconds() / 60
    for tier in tiers:
        if minutes < tier.max_age_minutes:
            return timedelta(minutes=tier.every_minutes)
    return timedelta(minutes=tiers[-1].every_minutes)


def is_confirmed_missing(status: KnownStatus, confirm_after: timedelta) -> bool:
    """A confirmed miss: at least two consecutive ``poll.missing`` rows (no successful observation of the
    status received after the first of them), the latest received at least ``confirm_after`` after the
    first. From then on the status counts as deleted and is no longer polled."""
    if status.misses < 2 or status.first_miss_at is None or status.last_miss_at is None:
        return False
    return status.last_miss_at - status.first_miss_at >= confirm_after


def load_known_statuses(dsn: str, instance_id: str, since: datetime) -> list[KnownStatus]:
    """Every status of the instance with a row received since ``since``, minus those with a ``delete``."""
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(_KNOWN_STATUSES_SQL, {"instance_id": instance_id, "since": since})
            rows = cur.fetchall()
    finally:
        conn.close()
    known = []
    for status_id, created_text, last_observed_at, misses, first_miss_at, last_miss_at in rows:
        created_at = parse_created_at(created_text) or snowflake_time(status_id)
        if created_at is None:
            continue  # neither a readable created_at nor a snowflake id: nothing to schedule by
        known.append(KnownStatus(status_id, created_at, last_observed_at, int(misses), first_miss_at,
                                 last_miss_at))
    return known


def schedule(known: Iterable[KnownStatus], now: datetime, poll: PollConfig) -> Schedule:
    """The due statuses among ``known`` at ``now``, most overdue first (ties: youngest first)."""
    horizon = timedelta(hours=poll.horizon_hours)
    confirm_after = timedelta(minutes=poll.confirm_missing_after_minutes)
    due: list[DueStatus] = []
    tracked = confirmed = 0
    for status in known:
        age = now - status.created_at
        if age > horizon:
            continue
        if is_confirmed_missing(status, confirm_after):
            confirmed += 1
            continue
        tracked += 1
        interval = interval_for(max(age, timedelta(0)), poll.tiers)
        if status.misses:
            interval = min(interval, confirm_after)
        since_seen = now - status.last_observed_at
        if since_seen >= interval:
            due.append(DueStatus(status.status_id, status.created_at, status.last_observed_at, interval,
                                 since_seen - interval, status.misses))
    due.sort(key=lambda d: (-d.overdue, -d.created_at.timestamp(), d.status_id))
    return Schedule(due=due, tracked=tracked, confirmed_missing=confirmed)


def due_statuses(dsn: str, instance_id: str, now: datetime, poll: PollConfig) -> Schedule:
    """Read raw and schedule one instance's statuses at ``now``."""
    since = now - timedelta(hours=poll.horizon_hours) - CLOCK_SKEW_SLACK
    return schedule(load_known_statuses(dsn, instance_id, since), now, poll)
