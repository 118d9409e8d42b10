"""Fixtures for the simulated-instance tests: instances, Mastodon.py clients, a raw SSE reader.

Helpers are handed out as fixtures (never imported from here), so the tests work under any
pytest import mode.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from mastodon import Mastodon, StreamListener

from extract.simulator import SimulatedInstance, SimulatorConfig

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def make_sim() -> Iterator[Callable[..., SimulatedInstance]]:
    """Factory for started instances (no paced generator, fast heartbeats); all stopped after."""
    started: list[SimulatedInstance] = []

    def factory(**overrides: Any) -> SimulatedInstance:
        settings: dict[str, Any] = {"events_per_second": 0, "heartbeat_interval": 0.25, "seed": 7}
        settings.update(overrides)
        sim = SimulatedInstance(SimulatorConfig(**settings)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., SimulatedInstance]) -> SimulatedInstance:
    return make_sim()


def _client(sim: SimulatedInstance, token: str | None = TOKEN, **kwargs: Any) -> Mastodon:
    return Mastodon(api_base_url=sim.url, access_token=token, version_check_mode="none", **kwargs)


@pytest.fixture
def make_client() -> Callable[..., Mastodon]:
    """``make_client(sim, token="sim-token", **Mastodon kwargs)``: a real Mastodon.py client."""
    return _client


@pytest.fixture
def api(sim: SimulatedInstance) -> Mastodon:
    return _client(sim)


class RecordingListener(StreamListener):
    """Mastodon.py listener that records what it gets and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.heartbeats = 0
        self.aborts: list[Exception] = []
        self.unknown: list[str] = []
        self._cond = threading.Condition()

    def _add(self, item: tuple[str, Any]) -> None:
        with self._cond:
            self.events.append(item)
            self._cond.notify_all()

    def on_update(self, status: Any) -> None:
        self._add(("update", status))

    def on_status_update(self, status: Any) -> None:
        self._add(("status.update", status))

    def on_delete(self, status_id: Any) -> None:
        self._add(("delete", status_id))

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        self.unknown.append(name)
        self._add((name, unknown_event))

    def on_abort(self, err: Exception) -> None:
        with self._cond:
            self.aborts.append(err)
            self._cond.notify_all()

    def handle_heartbeat(self) -> None:
        with self._cond:
            self.heartbeats += 1
            self._cond.notify_all()

    def wait(self, predicate: Callable[[RecordingListener], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)


class RawStream:
    """Reads an SSE response with ``requests`` in a thread and keeps the exact bytes."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.response = requests.get(url, headers=headers or {}, stream=True, timeout=(5, 30))
        self.buffer = bytearray()
        self.ended = False
        self.error: Exception | None = None
        self._cond = threading.Condition()
        if self.response.status_code == 200:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        else:
            self.ended = True

    def _read(self) -> None:
        try:
            for chunk in self.response.iter_content(chunk_size=None):
                with self._cond:
                    self.buffer.extend(chunk)
                    self._cond.notify_all()
        except Exception as exc:  # the stream ending abruptly is an expected outcome here
            self.error = exc
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def wait(self, predicate: Callable[[RawStream], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def wait_bytes(self, needle: bytes, count: int = 1, timeout: float = 5.0) -> bool:
        return self.wait(lambda s: bytes(s.buffer).count(needle) >= count, timeout)

    def frames(self) -> list[tuple[str | None, bytes | None]]:
        """Complete SSE events as (event name, data bytes); comments are skipped."""
        with self._cond:
            raw = bytes(self.buffer)
        out: list[tuple[str | None, bytes | None]] = []
        name: str | None = None
        data: bytes | None = None
        *lines, _partial = raw.split(b"\n")
        for line in lines:
            if line == b"":
                if name is not None or data is not None:
                    out.append((name, data))
                name, data = None, None
            elif line.startswith(b":"):
                continue
            elif line.startswith(b"event: "):
                name = line[len(b"event: "):].decode()
            elif line.startswith(b"data: "):
                data = line[len(b"data: "):]
        return out

    def close(self) -> None:
        # Closing a response another thread is reading waits for the next bytes; cut the socket.
        sock = getattr(getattr(self.response.raw, "_connection", None), "sock", None)
        if sock is not None and not self.ended:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.response.close()


@pytest.fixture
def open_raw() -> Iterator[Callable[..., RawStream]]:
    streams: list[RawStream] = []

    def opener(url: str, headers: dict[str, str] | None = None) -> RawStream:
        stream = RawStream(url, AUTH if headers is None else headers)
        streams.append(stream)
        return stream

    yield opener
    for stream in streams:
        stream.close()


def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture
def wait_until() -> Callable[..., bool]:
    """Poll a condition until it holds or the timeout passes (for state with no event to wait on)."""
    return _wait_until


@pytest.fixture
def stream_public() -> Iterator[Callable[..., tuple[RecordingListener, Any]]]:
    """``stream_public(api, sim, **kwargs)``: Mastodon.py async public stream, connected."""
    handles: list[Any] = []

    def opener(api: Mastodon, sim: SimulatedInstance, stream: str = "public",
               **kwargs: Any) -> tuple[RecordingListener, Any]:
        listener = RecordingListener()
        handle = api.stream_public(listener, run_async=True, **kwargs)
        handles.append(handle)
        assert sim.wait_for_connections(1, timeout=5, stream=stream)
        return listener, handle

    yield opener
    for handle in handles:
        handle.close()


@pytest.fixture
def new_listener() -> Callable[[], RecordingListener]:
    return RecordingListener
