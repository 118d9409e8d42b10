"""HTTP plumbing: one threaded server for REST, streaming and the ``/_sim`` admin endpoints.

Request order for the REST API mirrors a Mastodon deployment: the rate limiter runs first (every
request spends budget, even ones that then fail), then injected HTTP faults, then token checks,
then the endpoint. Streaming requests are not rate limited; admin requests are neither rate
limited nor authenticated.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .accounts import LIST_ID
from .entities import stream_json
from .faults import STREAMING_PREFIX
from .rest import JSON_TYPE, RequestContext, Response, error, normalize_tag, truthy
from .streaming import HELLO, StreamConnection, hold_open

if TYPE_CHECKING:
    from .instance import SimulatedInstance

log = logging.getLogger("extract.simulator")

CHANNELS = {
    "/api/v1/streaming/public": "public",
    "/api/v1/streaming/public/local": "public:local",
    "/api/v1/streaming/public/remote": "public:remote",
    "/api/v1/streaming/hashtag": "hashtag",
    "/api/v1/streaming/hashtag/local": "hashtag:local",
    "/api/v1/streaming/list": "list",
    "/api/v1/streaming/user": "user",
    "/api/v1/streaming/user/notification": "user:notification",
    "/api/v1/streaming/direct": "direct",
}
STREAM_ERROR_TYPE = "application/json"

NGINX_PAGES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def fault_response(status: int) -> Response:
    """The body a failing deployment answers with: nginx's HTML page for gateway errors."""
    if status in NGINX_PAGES:
        title = NGINX_PAGES[status]
        page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
                "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
        return Response(status, page.encode(), "text/html")
    if status == 500:
        return error(500, "Internal Server Error")
    if status == 429:
        return error(429, "Too many requests")
    return error(status, "Injected failure")


def bearer_token(header: str | None) -> tuple[bool, str | None]:
    """(header present, token) from an ``Authorization`` header; a non-Bearer header has no token."""
    if header is None:
        return False, None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return True, None
    return True, token.strip()


class SimulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server that remembers its client sockets so ``stop()`` can cut them all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: SimulatedInstance) -> None:
        self.sim = sim
        self.stopping = threading.Event()
        self._client_sockets: set[socket.socket] = set()
        self._client_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._client_lock:
            self._client_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._client_lock:
            self._client_sockets.discard(request)
        super().shutdown_request(request)

    def close_client_sockets(self) -> None:
        with self._client_lock:
            sockets = list(self._client_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    """Routes each request to the REST API, the streaming server or the admin API."""

    protocol_version = "HTTP/1.1"
    server_version = "Mastodon"
    sys_version = ""
    timeout = 60
    server: SimulatorHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # Plumbing -------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        try:
            self._drain_body()
            url = urlsplit(self.path)
            path = url.path.rstrip("/") or "/"
            query = parse_qs(url.query, keep_blank_values=True)
            sim = self.server.sim
            if path.startswith("/_sim/") or path == "/_sim":
                self._send(sim.admin.handle(method, path, query))
            elif path == f"{STREAMING_PREFIX}/health":
                self._send(Response(200, b"OK", "text/plain", {"Cache-Control": "private, no-store"}))
            elif path.startswith(STREAMING_PREFIX):
                self._stream(path, query)
            else:
                self._rest(method, path, query)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception:
            log.exception("simulator failed on %s %s", method, self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(error(500, "Internal Server Error"))

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.sim.url

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    # REST -----------------------------------------------------------------------------------

    def _rest(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        sim = self.server.sim
        present, token = bearer_token(self.headers.get("Authorization"))
        key = f"token:{token}" if token else f"ip:{self.client_address[0]}"
        decision = sim.limiter.hit(key)
        headers = {"Cache-Control": "private, no-store"}
        injected = sim.faults.take_http_error(path) if decision.allowed else None
        if not decision.allowed:
            response = error(429, "Too many requests")
        elif injected is not None:
            response = fault_response(injected)
        else:
            valid, authenticated = sim.check_token(present, token)
            if not valid:
                response = error(401, "The access token is invalid")
            else:
                ctx = RequestContext(base_url=self._base_url(), authenticated=authenticated)
                response = sim.rest.handle(method, path, query, ctx)
        if response.content_type == JSON_TYPE:
            response.headers.update(decision.headers())
        response.headers.update(headers)
        self._send(response)

    # Streaming ------------------------------------------------------------------------------

    def _stream_error(self, status: int, message: str) -> None:
        self._send(Response(status, stream_json({"error": message}).encode(), STREAM_ERROR_TYPE))

    def _stream(self, path: str, query: dict[str, list[str]]) -> None:
        sim = self.server.sim
        cfg = sim.config
        injected = sim.faults.take_http_error(path)
        if injected is not None:
            self._send(fault_response(injected))
            return
        channel = CHANNELS.get(path)
        if channel is None:
            self._stream_error(400, "Unknown channel requested")
            return
        present, token = bearer_token(self.headers.get("Authorization"))
        if not present and query.get("access_token"):
            present, token = True, query["access_token"][-1]
        if cfg.access_token is not None:
            if not present:
                self._stream_error(401, "Missing access token")
                return
            if token != cfg.access_token:
                self._stream_error(401, "Invalid access token")
                return
        authenticated = token is not None
        key = self._stream_key(channel, query, authenticated)
        if key is None:
            return
        self._serve_stream(key, authenticated)

    def _stream_key(self, channel: str, query: dict[str, list[str]], authenticated: bool) -> str | None:
        """The stream name this request subscribes to, or None after answering an error."""
        cfg = self.server.sim.config
        if channel.startswith("public"):
            if cfg.live_feeds == "authenticated" and not authenticated:
                self._stream_error(401, "Missing access token")
                return None
            return channel + (":media" if truthy(query.get("only_media")) else "")
        if channel.startswith("hashtag"):
            tag = (query.get("tag") or [""])[-1]
            if not tag:
                self._stream_error(400, "Missing tag name parameter")
                return None
            if cfg.hashtag_feeds == "authenticated" and not authenticated:
                self._stream_error(401, "Missing access token")
                return None
            scope = "hashtag:local" if channel == "hashtag:local" else "hashtag"
            return f"{scope}:{normalize_tag(tag)}"
        if channel == "list":
            list_id = (query.get("list") or [""])[-1]
            if not list_id:
                self._stream_error(400, "Missing list name parameter")
                return None
            if list_id != LIST_ID:
                self._stream_error(401, "Not authorized to stream this list")
                return None
            return f"list:{list_id}"
        if not authenticated:
            self._stream_error(401, "Missing access token")
            return None
        return channel

    def _serve_stream(self, key: str, authenticated: bool) -> None:
        sim = self.server.sim
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "private, no-store")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.connection.settimeout(sim.config.send_timeout)
        connection = StreamConnection(key, self.connection, self.wfile, authenticated,
                                      f"{self.client_address[0]}:{self.client_address[1]}")
        if not connection.write([HELLO]):
            return
        sim.hub.register(connection)
        try:
            hold_open(connection, sim.config.heartbeat_interval, self.server.stopping)
        finally:
            sim.hub.unregister(connection)
