"""A byte-level Server-Sent Events parser that keeps every payload exactly as it arrived.

Mastodon.py's own listener decodes and parses each event (and aborts the connection on a malformed one);
a raw event log needs the bytes, and a malformed frame must be recorded, not fatal. Lines end in ``\\n``,
``\\r\\n`` or ``\\r``; lines starting with ``:`` are comments (Mastodon's ``:)`` and ``:thump`` heartbeats);
several ``data:`` lines join with ``\\n``; a blank line ends an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: bytes | None


@dataclass(frozen=True)
class Heartbeat:
    comment: bytes


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = bytearray()
    for chunk in chunks:
        if not chunk:
            continue
        pending += chunk
        start = 0
        while True:
            lf = pending.find(b"\n", start)
            cr = pending.find(b"\r", start, lf if lf >= 0 else len(pending))
            cut = cr if cr >= 0 else lf
            if cut < 0:
                break
            if pending[cut] == 0x0D:
                if cut + 1 == len(pending):
                    break  # a CR at the end of the chunk: the next byte may be its LF
                skip = 2 if pending[cut + 1] == 0x0A else 1
            else:
                skip = 1
            yield bytes(pending[start:cut])
            start = cut + skip
        del pending[:start]


def parse(chunks: Iterable[bytes]) -> Iterator[SseEvent | Heartbeat]:
    """Turn a stream of byte chunks into events and heartbeats."""
    name: str | None = None
    data: list[bytes] | None = None
    for line in _split_lines(chunks):
        if not line:
            if name is not None or data is not None:
                yield SseEvent(event=name or "message", data=b"\n".join(data) if data is not None else None)
            name, data = None, None
            continue
        if line.startswith(b":"):
            yield Heartbeat(comment=line[1:])
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data = [*(data or []), value]
        # "id" and "retry" fields are not used by Mastodon and are ignored, as the SSE spec allows.
