"""Progress lines for long work: rows done, rate, and an ETA when the total is known."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    def __init__(self, what: str, say: Callable[[str], None], *, total: float | None = None,
                 every_seconds: float = 2.0) -> None:
        self.what = what
        self.say = say
        self.total = total
        self.every = every_seconds
        self.rows = 0
        self.started = time.monotonic()
        self._last = self.started

    def update(self, rows: int, done_fraction: float | None = None) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.say(self.line(done_fraction))

    def line(self, done_fraction: float | None = None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.rows / elapsed
        text = f"{self.what}: {self.rows:,} rows ({rate:,.0f}/s)"
        if done_fraction is not None and 0 < done_fraction < 1:
            eta = elapsed * (1 - done_fraction) / done_fraction
            text += f", {done_fraction:.0%} done, ETA {eta:,.0f} s"
        return text

    def finish(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.what}: {self.rows:,} rows in {elapsed:,.1f} s"
