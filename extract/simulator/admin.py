"""``/_sim/*``: control endpoints for tests that run the simulator in another process.

No token, no rate limit. Every answer is JSON (UTF-8, non-ASCII unescaped).

=======  ==========================================  ==============================================
method   path                                        effect
=======  ==========================================  ==============================================
GET      ``/_sim/status``                            domain, url, event count, paused, connections
GET      ``/_sim/ground_truth``                      the full :class:`GroundTruth` as JSON
GET      ``/_sim/connections?wait=N&timeout=S``      open streams (optionally wait for N, of
                                                     ``stream=NAME``)
POST     ``/_sim/emit?n=N``                          emit N events now; returns them
POST     ``/_sim/pause`` / ``/_sim/resume``          stop / restart the paced generator
POST     ``/_sim/faults/drop``                       close every stream
POST     ``/_sim/faults/stall?seconds=S``            stall open streams for S seconds
POST     ``/_sim/faults/malformed?kind=K``           malform the next status frame
POST     ``/_sim/faults/http_errors?status=&count=&path_prefix=``  fail the next REST requests
POST     ``/_sim/faults/exhaust_rate_limit``         spend every rate-limit budget
POST     ``/_sim/faults/clear``                      forget pending faults
=======  ==========================================  ==============================================
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from .entities import stream_json
from .ids import iso_us
from .rest import JSON_TYPE, Response

if TYPE_CHECKING:
    from .instance import SimulatedInstance


def _ok(value: Any, status: int = 200) -> Response:
    return Response(status, stream_json(value).encode("utf-8"), JSON_TYPE)


def _param(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[-1] if values else default


class AdminApi:
    """Dispatches ``/_sim`` requests to a :class:`SimulatedInstance`."""

    def __init__(self, sim: SimulatedInstance) -> None:
        self.sim = sim

    def handle(self, method: str, path: str, query: dict[str, list[str]]) -> Response:
        try:
            return self._route(method, path, query)
        except ValueError as exc:
            return _ok({"error": str(exc)}, 400)

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> Response:
        sim = self.sim
        gets = {
            "/_sim/status": lambda: sim.status(),
            "/_sim/ground_truth": lambda: sim.ground_truth().to_json(),
            "/_sim/connections": lambda: self._connections(query),
        }
        posts = {
            "/_sim/emit": lambda: {"events": [e.to_json() for e in sim.emit(int(_param(query, "n", "1") or 1))]},
            "/_sim/pause": lambda: (sim.pause(), {"paused": True})[1],
            "/_sim/resume": lambda: (sim.resume(), {"paused": False})[1],
            "/_sim/faults/drop": lambda: {"dropped": sim.faults.drop_connections()},
            "/_sim/faults/stall": lambda: {
                "stalled": sim.faults.stall(float(_param(query, "seconds", "10") or 10)),
            },
            "/_sim/faults/malformed": lambda: self._malformed(query),
            "/_sim/faults/http_errors": lambda: self._http_errors(query),
            "/_sim/faults/exhaust_rate_limit": lambda: {"until": iso_us(_epoch(sim.faults.exhaust_rate_limit()))},
            "/_sim/faults/clear": lambda: (sim.faults.clear(), {"cleared": True})[1],
        }
        table = gets if method == "GET" else posts if method == "POST" else {}
        if path in table:
            return _ok(table[path]())
        if path in gets or path in posts:
            return _ok({"error": "Method not allowed"}, 405)
        return _ok({"error": "Unknown admin endpoint"}, 404)

    def _connections(self, query: dict[str, list[str]]) -> dict[str, Any]:
        wait = _param(query, "wait")
        if wait is not None:
            ok = self.sim.wait_for_connections(int(wait), float(_param(query, "timeout", "5") or 5),
                                               _param(query, "stream"))
            return {"ok": ok, "connections": self.sim.connections()}
        return {"connections": self.sim.connections()}

    def _malformed(self, query: dict[str, list[str]]) -> dict[str, Any]:
        self.sim.faults.malformed_next(_param(query, "kind", "") or "")
        return self.sim.faults.pending()

    def _http_errors(self, query: dict[str, list[str]]) -> dict[str, Any]:
        self.sim.faults.http_errors(
            status=int(_param(query, "status", "500") or 500),
            count=int(_param(query, "count", "1") or 1),
            path_prefix=_param(query, "path_prefix", "/api/") or "/api/",
        )
        return self.sim.faults.pending()


def _epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
