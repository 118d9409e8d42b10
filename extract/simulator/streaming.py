"""Server-Sent Events: which streams an event goes to, open connections, frames, heartbeats.

Each streaming request keeps its handler thread, which only sends heartbeats and watches the
socket for the client going away. Events are written by the emitting thread directly into every
matching connection (under that connection's lock), so when ``emit()`` returns the bytes are with
the kernel and the ground truth's "written" flag is exact. A client too slow to take a frame
within ``send_timeout`` is disconnected.

Frames follow Mastodon's streaming server: ``:)`` on connect, ``:thump`` every heartbeat
interval, and each event as two chunks, ``event: <name>\\n`` then ``data: <payload>\\n\\n``, over
chunked transfer encoding.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any, BinaryIO

from .accounts import LIST_ID
from .records import StatusRecord

HELLO = b":)\n"
HEARTBEAT = b":thump\n"


def stream_names(
    kind: str,
    record: StatusRecord | None,
    tags: Iterable[str],
    has_media: bool,
    list_members: frozenset[int],
    live_feeds: str,
    hashtag_feeds: str,
) -> frozenset[str]:
    """The streams an event is published to, as Mastodon fans it out.

    Public streams carry public statuses that are not replies to someone else; hashtag streams
    carry replies too. When a feed is ``disabled`` its streams carry only deletes. A delete of a
    status never seen here goes to the public and remote streams only.
    """
    names: set[str] = set()
    if record is None:
        return frozenset({"public", "public:remote"})
    is_delete = kind == "delete"
    scope = "public:local" if record.local else "public:remote"
    if (is_delete or live_feeds != "disabled") and (is_delete or record.on_public_timeline):
        names.update({"public", scope})
        if has_media:
            names.update({"public:media", f"{scope}:media"})
    if is_delete or hashtag_feeds != "disabled":
        for tag in tags:
            names.add(f"hashtag:{tag}")
            if record.local:
                names.add(f"hashtag:local:{tag}")
    if record.account_id in list_members and (
        not record.is_reply or record.is_self_reply or record.in_reply_to_account_id in list_members
    ):
        names.add(f"list:{LIST_ID}")
    return frozenset(names)


def event_chunks(event_name: str, data: bytes | None) -> list[bytes]:
    """The chunks of one SSE event (``data=None`` leaves out the data line)."""
    head = f"event: {event_name}\n".encode()
    if data is None:
        return [head, b"\n"]
    return [head, b"data: " + data + b"\n\n"]


class StreamConnection:
    """One open SSE response."""

    def __init__(self, key: str, sock: socket.socket, wfile: BinaryIO, authenticated: bool, peer: str) -> None:
        self.key = key
        self.sock = sock
        self.wfile = wfile
        self.authenticated = authenticated
        self.peer = peer
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.stalled_until = 0.0
        self.opened_at = time.time()
        self.frames_written = 0

    def stalled(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.stalled_until

    def write(self, chunks: list[bytes]) -> bool:
        """Write chunks with chunked transfer encoding; False (and closed) if the client is gone."""
        with self.lock:
            if self.closed.is_set():
                return False
            try:
                payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
                self.wfile.write(payload)
                self.wfile.flush()
            except (OSError, ValueError):  # ValueError: the handler already closed the file (client gone)
                self.close()
                return False
            self.frames_written += 1
            return True

    def close(self) -> None:
        """Cut the connection without a terminating chunk: the client sees the stream end early."""
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def describe(self) -> dict[str, Any]:
        return {
            "stream": self.key,
            "authenticated": self.authenticated,
            "peer": self.peer,
            "stalled": self.stalled(),
            "opened_at": self.opened_at,
            "frames_written": self.frames_written,
        }


class StreamHub:
    """Registry of open streaming connections."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._connections: list[StreamConnection] = []

    def register(self, connection: StreamConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            self._lock.notify_all()

    def unregister(self, connection: StreamConnection) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
            self._lock.notify_all()

    def connections(self) -> list[StreamConnection]:
        with self._lock:
            return [c for c in self._connections if not c.closed.is_set()]

    def targets(self, streams: frozenset[str]) -> list[StreamConnection]:
        """Open, unstalled connections subscribed to one of ``streams``."""
        now = time.monotonic()
        return [c for c in self.connections() if c.key in streams and not c.stalled(now)]

    def broadcast(self, targets: list[StreamConnection], chunks: list[bytes]) -> frozenset[str]:
        """Write the frame to each target; return the stream names written to at least once."""
        written = set()
        for connection in targets:
            if connection.write(chunks):
                written.add(connection.key)
        return frozenset(written)

    def drop_all(self) -> int:
        connections = self.connections()
        for connection in connections:
            connection.close()
        with self._lock:
            self._connections = [c for c in self._connections if c not in connections]
            self._lock.notify_all()
        return len(connections)

    def stall_all(self, seconds: float) -> int:
        until = time.monotonic() + seconds
        connections = self.connections()
        for connection in connections:
            connection.stalled_until = max(connection.stalled_until, until)
        return len(connections)

    def wait_for(self, count: int, timeout: float, stream: str | None = None) -> bool:
        """Block until at least ``count`` connections (to ``stream``, if given) are open."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                open_ = [c for c in self._connections if not c.closed.is_set()]
                if stream is not None:
                    open_ = [c for c in open_ if c.key == stream]
                if len(open_) >= count:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))


def hold_open(connection: StreamConnection, heartbeat_interval: float, stopping: threading.Event) -> None:
    """Run in the request's thread: send heartbeats until the client leaves or the server stops.

    Watches the socket so that a client closing its end is noticed at once (a streaming client
    sends nothing, so readability means end of file).
    """
    next_beat = time.monotonic() + heartbeat_interval
    sock = connection.sock
    while not connection.closed.is_set() and not stopping.is_set():
        now = time.monotonic()
        if now >= next_beat:
            if not connection.stalled(now) and not connection.write([HEARTBEAT]):
                break
            next_beat = now + heartbeat_interval
            continue
        try:
            readable, _, _ = select.select([sock], [], [], min(next_beat - now, 0.2))
        except (OSError, ValueError):
            break
        if readable:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError, TimeoutError):
                continue
            except OSError:
                break
            if not data:
                break
    connection.close()
