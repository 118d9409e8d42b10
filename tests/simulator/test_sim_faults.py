"""Fault injection: dropped and stalled streams, malformed frames, HTTP errors."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from mastodon import MastodonInternalServerError, MastodonMalformedEventError, MastodonNetworkError

from extract.simulator import MALFORMED_KINDS

AUTH = {"Authorization": "Bearer sim-token"}


def emit_until_written(sim, stream, limit=200):
    """Emit until an update/status.update is written to ``stream``; return that event."""
    for _ in range(limit):
        (event,) = sim.emit(1)
        if stream in event.written_to and event.event != "delete":
            return event
    raise AssertionError(f"no status event reached {stream}")


def test_drop_connections_ends_streams_and_clients_reconnect(sim, api, open_raw, new_listener):
    raw = open_raw(f"{sim.url}/api/v1/streaming/public")
    listener = new_listener()
    handle = api.stream_public(listener, run_async=True, reconnect_async=True, reconnect_async_wait_sec=1)
    try:
        assert sim.wait_for_connections(2, stream="public")
        assert sim.faults.drop_connections() == 2
        assert raw.wait(lambda s: s.ended)
        assert raw.error is not None, "the stream is cut without its terminating chunk"
        assert listener.wait(lambda li: li.aborts)
        assert isinstance(listener.aborts[0], MastodonNetworkError)
        lost = sim.emit(5)
        assert sim.wait_for_connections(1, stream="public", timeout=5), "Mastodon.py reconnects"
        after = sim.emit(30)
        # Whether the five events right after the drop were written depends on how fast the
        # client came back; the ground truth says which, and the client got exactly those.
        expected = [e.status_id for e in lost + after if "public" in e.written_to]
        assert len(expected) > 5
        assert listener.wait(lambda li: len(li.events) >= len(expected))
        got = [str(p if k == "delete" else p["id"]) for k, p in listener.events]
        assert got == expected
    finally:
        handle.close()


def test_stall_sends_nothing_and_loses_events(sim, open_raw, wait_until):
    stream = open_raw(f"{sim.url}/api/v1/streaming/public")
    assert sim.wait_for_connections(1, stream="public")
    assert stream.wait_bytes(b":thump\n")
    assert sim.faults.stall(1.2) == 1
    during = sim.emit(30)
    assert not any(e.written for e in during)
    assert any("public" in e.streams for e in during)
    time.sleep(0.1)  # a heartbeat already on its way when the stall began may still land
    size = len(stream.buffer)
    time.sleep(0.7)  # several heartbeat intervals: nothing at all may arrive meanwhile
    assert len(stream.buffer) == size
    assert wait_until(lambda: not sim.connections()[0]["stalled"], timeout=3)
    assert stream.wait_bytes(b":thump\n", count=bytes(stream.buffer).count(b":thump\n") + 1, timeout=3)
    after = sim.emit(20)
    expected = [e for e in after if "public" in e.written_to]
    assert expected
    assert stream.wait(lambda s: len(s.frames()) >= len(expected))
    assert [d.decode() for _, d in stream.frames()] == [e.data for e in expected]
    statuses = sim.ground_truth().statuses
    lost_updates = [e for e in during if e.event == "update"]
    assert lost_updates and all(e.status_id in statuses for e in lost_updates), "lost events still exist in REST"


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_frames(sim, open_raw, kind):
    stream = open_raw(f"{sim.url}/api/v1/streaming/public")
    assert sim.wait_for_connections(1, stream="public")
    sim.faults.malformed_next(kind)
    event = emit_until_written(sim, "public")
    assert event.malformed == kind
    follow_up = emit_until_written(sim, "public")
    assert follow_up.malformed is None, "only the next status frame is malformed"
    assert stream.wait(lambda s: follow_up.raw in bytes(s.buffer), timeout=10)
    assert event.raw in bytes(stream.buffer), "ground truth holds the exact bytes sent"
    name, data = next(f for f in stream.frames() if event.raw.startswith(f"event: {f[0]}\n".encode())
                      and (f[1] is None or f[1] in event.raw))
    rest = requests.get(f"{sim.url}/api/v1/statuses/{event.status_id}", headers=AUTH, timeout=5)
    if kind == "bad_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(data)
        assert event.data == data.decode()
    elif kind == "invalid_utf8":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert event.data == data.decode("utf-8", "backslashreplace")
    elif kind == "nul_escape":
        assert b"\\u0000" in data
        assert "\x00" in json.loads(data)["content"]
        assert "\x00" in rest.json()["content"], "the status itself carries the NUL, REST included"
    elif kind == "no_data":
        assert data is None and event.data == ""
    elif kind == "unknown_event":
        assert name == "status.reaction" and event.wire_event == "status.reaction"
        assert json.loads(data)["id"] == event.status_id
    elif kind == "huge":
        assert len(data) > 256 * 1024
        assert rest.json()["content"] == json.loads(data)["content"]
    truth = sim.ground_truth()
    assert truth.events[event.seq - 1].malformed == kind
    assert truth.to_json()["events"][event.seq - 1]["raw_b64"]


def test_mastodon_py_meets_malformed_frames(sim, api, new_listener):
    listener = new_listener()
    thread_errors: list[BaseException | None] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: thread_errors.append(args.exc_value)
    handle = api.stream_public(listener, run_async=True)
    try:
        assert sim.wait_for_connections(1, stream="public")
        sim.faults.malformed_next("unknown_event")
        emit_until_written(sim, "public")
        assert listener.wait(lambda li: li.unknown == ["status.reaction"])
        sim.faults.malformed_next("bad_json")
        emit_until_written(sim, "public")
        assert listener.wait(lambda li: li.aborts)
        assert isinstance(listener.aborts[0], MastodonMalformedEventError)
        # without reconnect_async the client's stream thread then ends by raising the error it reported
        # (waited for here, so it is not left to surface as an unhandled thread error in a later test)
        handle.join(timeout=5)
        assert not handle.is_alive()
        assert thread_errors == [listener.aborts[0]]
    finally:
        handle.close()
        threading.excepthook = previous_hook


def test_http_errors(sim, api):
    sim.emit(20)
    sim.faults.http_errors(status=500, count=2, path_prefix="/api/v1/timelines")
    assert api.instance_v2().domain == "sim-one.example", "other paths are unaffected"
    for _ in range(2):
        with pytest.raises(MastodonInternalServerError):
            api.timeline_public()
    assert api.timeline_public()
    sim.faults.http_errors(status=502, count=1, path_prefix="/api/v1/statuses")
    gateway = requests.get(f"{sim.url}/api/v1/statuses/1", headers=AUTH, timeout=5)
    assert gateway.status_code == 502 and gateway.headers["Content-Type"] == "text/html"
    assert "<center><h1>502 Bad Gateway</h1></center>" in gateway.text


def test_http_errors_on_streaming_connect(sim, open_raw):
    sim.faults.http_errors(status=503, count=1, path_prefix="/api/")
    sim.faults.http_errors(status=502, count=1, path_prefix="/api/v1/streaming")
    refused = open_raw(f"{sim.url}/api/v1/streaming/public")
    assert refused.response.status_code == 502
    assert open_raw(f"{sim.url}/api/v1/streaming/public").response.status_code == 200
    assert requests.get(f"{sim.url}/api/v1/instance", timeout=5).status_code == 503


def test_invalid_fault_arguments(sim):
    with pytest.raises(ValueError):
        sim.faults.malformed_next("nonsense")
    with pytest.raises(ValueError):
        sim.faults.http_errors(status=200)
    response = requests.post(f"{sim.url}/_sim/faults/malformed?kind=nonsense", timeout=5)
    assert response.status_code == 400 and "error" in response.json()


def test_stop_cuts_stalled_streams_quickly(make_sim, open_raw):
    sim = make_sim(heartbeat_interval=30)
    streams = [open_raw(f"{sim.url}/api/v1/streaming/public") for _ in range(3)]
    keep_alive = requests.Session()
    keep_alive.get(f"{sim.url}/api/v1/instance", headers=AUTH, timeout=5)
    assert sim.wait_for_connections(3)
    sim.faults.stall(60)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2.0
    for stream in streams:
        assert stream.wait(lambda s: s.ended, timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.url}/api/v1/instance", timeout=2)
