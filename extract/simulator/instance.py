"""``SimulatedInstance``: the simulated Mastodon server as one object, and ``serve_forever``."""

from __future__ import annotations

import random
import signal
import threading
from types import TracebackType
from typing import Any

from .accounts import build_directory
from .admin import AdminApi
from .config import SimulatorConfig
from .content import ContentGenerator, Emission
from .entities import stream_json
from .faults import UNKNOWN_EVENT_NAME, Faults
from .ratelimit import RateLimiter
from .rest import RestApi
from .server import SimulatorHTTPServer
from .state import Event, GroundTruth, Store
from .streaming import StreamHub, event_chunks, stream_names


class SimulatedInstance:
    """A Mastodon 4.x look-alike serving REST and SSE streaming on a local port.

    ``start()`` serves in background threads and, when ``events_per_second > 0``, starts the
    paced generator (Poisson arrivals at that mean rate). ``emit(n)`` generates and broadcasts
    ``n`` events synchronously whatever the generator is doing; events from both are serialised,
    so the event log has one order. ``stop()`` ends everything within about a second, cutting open
    connections.
    """

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = SimulatorConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a SimulatorConfig or keyword overrides, not both")
        self.config = config
        self.directory = build_directory(config.seed, config.domain, config.ingest_username)
        self.store = Store(self.directory, config.clock)
        self.generator = ContentGenerator(config, self.directory, self.store)
        self.hub = StreamHub()
        self.limiter = RateLimiter(config.rate_limit, config.rate_window_seconds)
        self.faults = Faults(self.hub, self.limiter)
        self.rest = RestApi(config, self.store, lambda: self.url)
        self.admin = AdminApi(self)
        self._emit_lock = threading.Lock()
        self._server: SimulatorHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._pace = random.Random(f"{config.seed}:pace")

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> SimulatedInstance:
        """Bind, serve in background threads, start the generator; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("simulated instance already started")
        self._server = SimulatorHTTPServer((self.config.host, self.config.port), self)
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                 name=f"sim-http-{self.port}", daemon=True)
        serve.start()
        self._threads.append(serve)
        if self.config.events_per_second > 0:
            gen = threading.Thread(target=self._run_generator, name=f"sim-gen-{self.port}", daemon=True)
            gen.start()
            self._threads.append(gen)
        return self

    def stop(self) -> None:
        """Stop serving and generating; open connections are cut. Safe to call twice."""
        already = self._stop.is_set()
        self._stop.set()
        self._resumed.set()
        server = self._server
        if server is None or already:
            return
        server.stopping.set()
        server.shutdown()
        self.hub.drop_all()
        server.close_client_sockets()
        server.server_close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=1.0)

    def __enter__(self) -> SimulatedInstance:
        return self.start() if self._server is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulated instance not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8401``."""
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - translating a wildcard bind address
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # Generator ------------------------------------------------------------------------------

    def pause(self) -> None:
        """Pause the paced generator (``emit`` still works)."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def _run_generator(self) -> None:
        rate = self.config.events_per_second
        while not self._stop.is_set():
            if self._stop.wait(self._pace.expovariate(rate)):
                return
            self._resumed.wait()
            if self._stop.is_set():
                return
            self.emit(1)

    # Events ---------------------------------------------------------------------------------

    def emit(self, n: int = 1) -> list[Event]:
        """Generate and broadcast ``n`` events now; returns their records."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._emit_lock:
            return [self._emit_one() for _ in range(n)]

    def _emit_one(self) -> Event:
        store = self.store
        cfg = self.config
        with store.lock:
            now = cfg.clock()
            seq = store.seq + 1
            store.seq = seq
            emission = self.generator.step(now, seq)
            streams = self._streams(emission)
            targets = self.hub.targets(streams)
            malformed = None
            if emission.kind != "delete" and targets and self.faults.peek_malformed():
                malformed = self.faults.take_malformed()
                if malformed == "nul_escape" and emission.record is not None:
                    self.generator.make_nul(emission.record)
                elif malformed == "huge" and emission.record is not None:
                    self.generator.make_huge(emission.record)
            if emission.record is not None and emission.kind != "delete":
                text = stream_json(store.renderer.status(emission.record, seq, now))
            else:
                text = str(emission.status_id)
            wire_event, data_bytes, recorded = _wire(emission.kind, text, malformed)
            chunks = event_chunks(wire_event, data_bytes)
        written_to = self.hub.broadcast(targets, chunks)
        event = Event(
            seq=seq,
            event=emission.kind,
            data=recorded,
            status_id=str(emission.status_id),
            streams=streams,
            emitted_at=now,
            written=bool(written_to),
            written_to=written_to,
            wire_event=wire_event,
            malformed=malformed,
            known_status=emission.record is not None,
            raw=b"".join(chunks),
        )
        with store.lock:
            store.events.append(event)
        return event

    def _streams(self, emission: Emission) -> frozenset[str]:
        record = emission.record
        tags: list[str] = []
        has_media = False
        if record is not None:
            version = record.versions[-1]
            tags = sorted({t.lower() for t in version.tags})
            has_media = bool(version.media)
        return stream_names(emission.kind, record, tags, has_media, self.directory.list_members,
                            self.config.live_feeds, self.config.hashtag_feeds)

    def update_account(self, account_id: int | str, **changes: Any) -> None:
        """Change an account from now on, e.g. ``indexable=False``, ``note="<p>#nobot</p>"``, ``fields=[...]``,
        ``display_name=...`` or ``signature="text"`` (a last paragraph added to each of its new posts)."""
        with self.store.lock:
            record = self.directory.get(int(account_id))
            for key, value in changes.items():
                if not hasattr(record, key) or key in ("id", "status_ids"):
                    raise ValueError(f"accounts have no changeable attribute {key!r}")
                setattr(record, key, value)

    # Observation ----------------------------------------------------------------------------

    def ground_truth(self) -> GroundTruth:
        """A consistent snapshot (never in the middle of an emit); entities render lazily."""
        with self._emit_lock:
            return self.store.snapshot()

    def connections(self) -> list[dict[str, Any]]:
        """Open streaming connections: stream name, auth, peer, stalled flag, frames written."""
        return [c.describe() for c in self.hub.connections()]

    def wait_for_connections(self, count: int = 1, timeout: float = 5.0, stream: str | None = None) -> bool:
        """Block until ``count`` streaming connections (to ``stream``, if given) are open."""
        return self.hub.wait_for(count, timeout, stream)

    def status(self) -> dict[str, Any]:
        with self.store.lock:
            seq = self.store.seq
        return {
            "domain": self.config.domain,
            "url": self.url,
            "seq": seq,
            "paused": self.paused,
            "events_per_second": self.config.events_per_second,
            "connections": len(self.hub.connections()),
            "faults": self.faults.pending(),
        }

    def check_token(self, present: bool, token: str | None) -> tuple[bool, bool]:
        """(valid, authenticated) for a request's bearer token.

        Without a configured token any presented token is accepted (and counts as a login).
        """
        if self.config.access_token is None:
            return True, present and token is not None
        if not present:
            return True, False
        return token == self.config.access_token, token == self.config.access_token


def _wire(kind: str, text: str, malformed: str | None) -> tuple[str, bytes | None, str]:
    """(event name, data bytes or None, data as recorded) for a frame, malformed if asked."""
    data = text.encode("utf-8")
    if malformed == "bad_json":
        cut = text[: max(1, int(len(text) * 0.6))]
        return kind, cut.encode("utf-8"), cut
    if malformed == "invalid_utf8":
        marker = data.find(b'"content":"')
        at = marker + len(b'"content":"') if marker >= 0 else len(data) // 2
        broken = data[:at] + b"\xff\xfe\xc3(" + data[at:]
        return kind, broken, broken.decode("utf-8", "backslashreplace")
    if malformed == "no_data":
        return kind, None, ""
    if malformed == "unknown_event":
        return UNKNOWN_EVENT_NAME, data, text
    return kind, data, text


def serve_forever(cfg: SimulatorConfig) -> None:
    """Run a simulated instance in the foreground until SIGINT or SIGTERM.

    Prints one line, ``Simulated Mastodon instance <domain> at <url> (token: set|none)``.
    """
    sim = SimulatedInstance(cfg).start()
    done = threading.Event()
    previous = {}

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    token_state = "set" if cfg.access_token is not None else "none"
    print(f"Simulated Mastodon instance {cfg.domain} at {sim.url} (token: {token_state})", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = ["SimulatedInstance", "serve_forever"]
