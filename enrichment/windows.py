"""Time windows: calendar days in a configured time zone, and UTC hours.

All values are aware datetimes (UTC for storage). A local day spans midnight to midnight in its zone, so a
day on which daylight saving time changes lasts 23 or 25 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    """A half-open interval ``[start, end)`` of aware UTC datetimes, with the local day it stands for."""

    start: datetime
    end: datetime
    day: date | None = None

    @property
    def label(self) -> str:
        return self.day.isoformat() if self.day else self.start.strftime("%Y-%m-%d %H:00 UTC")


def require_aware(moment: datetime, what: str = "time") -> datetime:
    """``moment`` in UTC; a naive datetime is refused (naive and aware times were mixed in the old system)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, not naive ({moment.isoformat()}).")
    return moment.astimezone(UTC)


def day_window(day: date, zone: ZoneInfo) -> Window:
    """The local day ``day`` in ``zone`` as a UTC window."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return Window(start.astimezone(UTC), end.astimezone(UTC), day)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day of ``moment`` in ``zone``."""
    return require_aware(moment).astimezone(zone).date()


def hour_window(moment: datetime) -> Window:
    """The UTC hour containing ``moment``."""
    start = require_aware(moment).replace(minute=0, second=0, microsecond=0)
    return Window(start, start + timedelta(hours=1))
