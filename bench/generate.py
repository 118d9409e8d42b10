"""Realistic event archives for the benchmarks, in the format ``forkalytics load --from`` reads.

The events come from the simulated Mastodon instance (``extract.simulator``): Status JSON as a Mastodon 4.x
streaming server sends it (about 2–6 KB each, accounts, mentions, media, cards and polls included), with its
mix of new posts (~80 %), edits (~10 %), deletes (~8 %) and deletes of never-seen ids (~2 %), and hashtags
drawn from its vocabulary. Time runs on a fake clock at the pace of a busy instance (36,000 events an hour by
default), so a million events span about 28 hours and the trending windows have history to compare with.

The simulator keeps every event it ever sent in memory, so the stream is generated in chunks, each by a
fresh instance with a seed of its own, on one continuous clock. The output for given arguments is the same
byte for byte on every run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from extract.simulator import SimulatedInstance, SimulatorConfig

DOMAIN = "bench.example"
INSTANCE_URL = f"https://{DOMAIN}"
START = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
CHUNK_EVENTS = 10_000
EMIT_GROUP = 10


@dataclass
class ArchiveStats:
    events: int = 0
    bytes: int = 0
    payload_bytes: int = 0
    status_payloads: int = 0
    mix: Counter = field(default_factory=Counter)
    hashtag_uses: int = 0
    first_received_at: str = ""
    last_received_at: str = ""

    def to_json(self) -> dict:
        statuses = self.status_payloads or 1
        return {
            "events": self.events, "bytes": self.bytes,
            "mean_status_payload_bytes": round(self.payload_bytes / statuses),
            "mix": dict(sorted(self.mix.items())),
            "hashtag_uses_per_status": round(self.hashtag_uses / statuses, 2),
            "first_received_at": self.first_received_at, "last_received_at": self.last_received_at,
        }


def generate_archive(path: Path, events: int, *, seed: int = 2026, per_hour: int = 36_000,
                     start: dt.datetime = START) -> ArchiveStats:
    """Write ``events`` events to ``path`` (JSON Lines) and return what they contain."""
    step = dt.timedelta(seconds=3600 / per_hour)
    moment = [start]
    stats = ArchiveStats()
    with open(path, "w", encoding="utf-8") as out:
        chunk = 0
        while stats.events < events:
            sim = SimulatedInstance(SimulatorConfig(domain=DOMAIN, seed=seed * 1000 + chunk, events_per_second=0,
                                                    access_token=None, clock=lambda: moment[0]))
            in_chunk = 0
            while in_chunk < CHUNK_EVENTS and stats.events < events:
                group = min(EMIT_GROUP, events - stats.events)
                for event in sim.emit(group):
                    received = event.emitted_at.isoformat().replace("+00:00", "Z")
                    line = json.dumps({"event": event.event, "payload": event.data, "instance": INSTANCE_URL,
                                       "stream": "public", "received_at": received}, ensure_ascii=False)
                    out.write(line + "\n")
                    stats.bytes += len(line.encode("utf-8")) + 1
                    kind = event.event if event.known_status else "delete (never seen)"
                    stats.mix[kind] += 1
                    if event.event != "delete":
                        stats.payload_bytes += len(event.data.encode("utf-8"))
                        stats.status_payloads += 1
                        stats.hashtag_uses += event.data.count('"url":"https://' + DOMAIN + '/tags/')
                    stats.first_received_at = stats.first_received_at or received
                    stats.last_received_at = received
                stats.events += group
                in_chunk += group
                moment[0] += step * group
            chunk += 1
    return stats


def split_archive(source: Path, head: int, head_path: Path, tail: int, tail_path: Path) -> None:
    """The first ``head`` lines of ``source`` into ``head_path`` and the ``tail`` lines after them into
    ``tail_path`` (an initial load and the increment that follows it in time)."""
    with open(source, "rb") as src, open(head_path, "wb") as first, open(tail_path, "wb") as second:
        for number, line in enumerate(src):
            if number < head:
                first.write(line)
            elif number < head + tail:
                second.write(line)
            else:
                break
