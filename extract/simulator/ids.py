"""Snowflake ids and the timestamp formats Mastodon uses on the wire."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_ms(moment: dt.datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> dt.datetime:
    """Aware UTC datetime for a Unix timestamp in milliseconds."""
    return EPOCH + dt.timedelta(milliseconds=ms)


def snowflake(ms: int, sequence: int) -> int:
    """A Mastodon snowflake: creation time in ms in the high bits, a 16-bit sequence below."""
    return (ms << 16) | (sequence & 0xFFFF)


def snowflake_ms(snowflake_id: int) -> int:
    """The millisecond timestamp a snowflake id encodes."""
    return snowflake_id >> 16


def iso_ms(moment: dt.datetime) -> str:
    """``2026-11-25T12:00:00.123Z``: how Mastodon writes ``created_at`` and ``edited_at``."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_us(moment: dt.datetime) -> str:
    """``2026-11-25T12:05:00.123456Z``: how Mastodon writes ``X-RateLimit-Reset``."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def midnight_iso(day: dt.date) -> str:
    """An account's ``created_at``: always midnight UTC."""
    return f"{day.isoformat()}T00:00:00.000Z"


def truncate_ms(moment: dt.datetime) -> dt.datetime:
    """Drop sub-millisecond precision (Mastodon stores timestamps in ms)."""
    return moment.replace(microsecond=(moment.microsecond // 1000) * 1000)


class SnowflakeAllocator:
    """Hands out unique snowflake ids.

    Within one millisecond the sequence part counts up from a base chosen by the caller (Mastodon
    derives it from a hash; here it comes from the seeded generator), so ids minted in the same
    millisecond still sort in creation order.
    """

    def __init__(self) -> None:
        self._used: set[int] = set()
        self._last_in_ms: dict[int, int] = {}

    def allocate(self, ms: int, base: int) -> int:
        seq = self._last_in_ms.get(ms, base - 1) + 1
        candidate = snowflake(ms, seq)
        while candidate in self._used:
            seq += 1
            candidate = snowflake(ms + (seq >> 16), seq)
        self._last_in_ms[ms] = seq
        self._used.add(candidate)
        return candidate

    def reserve(self, snowflake_id: int) -> None:
        """Mark an id as taken (e.g. an id used by a delete of a never-published status)."""
        self._used.add(snowflake_id)

    def __contains__(self, snowflake_id: int) -> bool:
        return snowflake_id in self._used
