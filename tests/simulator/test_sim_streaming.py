"""SSE streaming: Mastodon.py and raw bytes against the simulator's ground truth."""

from __future__ import annotations

import json

import pytest
from mastodon import MastodonNetworkError

AUTH = {"Authorization": "Bearer sim-token"}


def delivered(truth, stream):
    return [e for e in truth.events if stream in e.written_to]


def test_mastodon_py_receives_updates_edits_and_deletes(sim, api, stream_public):
    listener, _ = stream_public(api, sim)
    sim.emit(150)
    expected = delivered(sim.ground_truth(), "public")
    assert {e.event for e in expected} == {"update", "status.update", "delete"}
    assert listener.wait(lambda li: len(li.events) >= len(expected))
    got = [(kind, str(payload if kind == "delete" else payload["id"])) for kind, payload in listener.events]
    assert got == [(e.event, e.status_id) for e in expected]
    first_update = next(p for k, p in listener.events if k == "update")
    assert first_update.account.acct and first_update.content.startswith("<p>")


def test_public_stream_carries_no_replies_to_others(sim, open_raw):
    stream = open_raw(f"{sim.url}/api/v1/streaming/public")
    assert sim.wait_for_connections(1, stream="public")
    sim.emit(300)
    truth = sim.ground_truth()
    expected = delivered(truth, "public")
    assert stream.wait(lambda s: len(s.frames()) >= len(expected))
    for event in expected:
        if event.event == "update":
            status = truth.status(event.status_id).status
            assert status["in_reply_to_id"] is None or status["in_reply_to_account_id"] == status["account"]["id"]
    replies = [s for s in truth.statuses.values() if s.status["in_reply_to_id"] is not None]
    to_others = [s for s in replies if not s.on_public_timeline]
    self_replies = [s for s in replies if s.on_public_timeline]
    assert to_others and self_replies
    public_ids = {e.status_id for e in expected if e.event == "update"}
    assert not public_ids & {s.id for s in to_others}
    assert {s.id for s in self_replies} <= public_ids


def test_raw_bytes_heartbeats_and_exact_data(sim, open_raw):
    stream = open_raw(f"{sim.url}/api/v1/streaming/public")
    assert stream.response.headers["Content-Type"] == "text/event-stream"
    assert stream.response.headers["Transfer-Encoding"] == "chunked"
    assert stream.wait(lambda s: bytes(s.buffer).startswith(b":)\n"))
    assert sim.wait_for_connections(1)
    assert stream.wait_bytes(b":thump\n", count=2, timeout=3)
    sim.emit(40)
    expected = delivered(sim.ground_truth(), "public")
    assert stream.wait(lambda s: len(s.frames()) >= len(expected))
    frames = stream.frames()
    assert [(name, data.decode("utf-8")) for name, data in frames] == [(e.event, e.data) for e in expected]
    for event in expected:
        if event.event == "delete":
            assert event.data.isdigit()
        else:
            assert json.loads(event.data)["id"] == event.status_id
    raw = bytes(stream.buffer)
    assert any(b >= 0x80 for b in raw), "non-ASCII text travels as raw UTF-8"
    assert b"\\u003c" not in raw, "the streaming server does not HTML-escape JSON"


def test_hashtag_stream_includes_replies(make_sim, make_client, stream_public, new_listener):
    sim = make_sim(scenario="spike", seed=3)
    api = make_client(sim)
    listener = new_listener()
    handle = api.stream_hashtag("DailyChatter", listener, run_async=True)
    try:
        assert sim.wait_for_connections(1, stream="hashtag:dailychatter")
        sim.emit(300)
        truth = sim.ground_truth()
        expected = delivered(truth, "hashtag:dailychatter")
        assert listener.wait(lambda li: len(li.events) >= len(expected))
        assert [str(p if k == "delete" else p["id"]) for k, p in listener.events] == [e.status_id for e in expected]
        updates = [truth.status(e.status_id) for e in expected if e.event == "update"]
        assert any(not s.on_public_timeline for s in updates), "replies to others reach hashtag streams"
        assert all("dailychatter" in s.tags for s in updates)
    finally:
        handle.close()


def test_hashtag_local_list_and_media_streams(sim, open_raw):
    streams = {
        "hashtag:local:caturday": open_raw(f"{sim.url}/api/v1/streaming/hashtag/local?tag=CatURDAY"),
        "list:1": open_raw(f"{sim.url}/api/v1/streaming/list?list=1"),
        "public:remote:media": open_raw(f"{sim.url}/api/v1/streaming/public/remote?only_media=true"),
        "public:local": open_raw(f"{sim.url}/api/v1/streaming/public/local"),
    }
    for name in streams:
        assert sim.wait_for_connections(1, stream=name)
    sim.emit(400)
    truth = sim.ground_truth()
    for name, stream in streams.items():
        expected = delivered(truth, name)
        assert expected, name
        assert stream.wait(lambda s, n=len(expected): len(s.frames()) >= n), name
        assert [d.decode() for _, d in stream.frames()] == [e.data for e in expected], name
    for event in delivered(truth, "public:remote:media"):
        if event.event == "update":
            status = json.loads(event.data)
            assert status["media_attachments"] and "@" in status["account"]["acct"]
    list_members = {str(i) for i in sim.directory.list_members}
    for event in delivered(truth, "list:1"):
        if event.event == "update":
            assert json.loads(event.data)["account"]["id"] in list_members


def test_stream_auth_errors(sim, open_raw, make_client, new_listener):
    cases = [
        ("/api/v1/streaming/public", {}, 401, "Missing access token"),
        ("/api/v1/streaming/public", {"Authorization": "Bearer wrong"}, 401, "Invalid access token"),
        ("/api/v1/streaming/public?access_token=wrong", {}, 401, "Invalid access token"),
        ("/api/v1/streaming/nonsense", AUTH, 400, "Unknown channel requested"),
        ("/api/v1/streaming/hashtag", AUTH, 400, "Missing tag name parameter"),
        ("/api/v1/streaming/list?list=999", AUTH, 401, "Not authorized to stream this list"),
    ]
    for path, headers, status, message in cases:
        stream = open_raw(sim.url + path, headers)
        assert stream.response.status_code == status, path
        assert stream.response.json() == {"error": message}, path
    ok = open_raw(f"{sim.url}/api/v1/streaming/public?access_token=sim-token", {})
    assert ok.response.status_code == 200
    # Mastodon.py turns a refused stream into a network error (the 401 body is not surfaced).
    with pytest.raises(MastodonNetworkError):
        make_client(sim, token="wrong").stream_public(new_listener())


def test_disabled_live_feed_delivers_only_deletes(make_sim, make_client, open_raw, stream_public):
    sim = make_sim(live_feeds="disabled")
    api = make_client(sim)
    with pytest.warns(Warning):
        listener, _ = stream_public(api, sim)
    tag_stream = open_raw(f"{sim.url}/api/v1/streaming/hashtag?tag=photography")
    assert sim.wait_for_connections(1, stream="hashtag:photography")
    sim.emit(200)
    truth = sim.ground_truth()
    public = delivered(truth, "public")
    assert public and {e.event for e in public} == {"delete"}
    assert listener.wait(lambda li: len(li.events) >= len(public))
    assert {kind for kind, _ in listener.events} == {"delete"}
    tagged = delivered(truth, "hashtag:photography")
    assert any(e.event == "update" for e in tagged)
    assert tag_stream.wait(lambda s: len(s.frames()) >= len(tagged))
    with pytest.warns(Warning):
        assert api.timeline_public() == []


def test_authenticated_feeds_without_configured_token(make_sim, open_raw):
    sim = make_sim(access_token=None, live_feeds="authenticated")
    refused = open_raw(f"{sim.url}/api/v1/streaming/public", {})
    assert refused.response.status_code == 401
    assert open_raw(f"{sim.url}/api/v1/streaming/hashtag?tag=x", {}).response.status_code == 200
    assert open_raw(f"{sim.url}/api/v1/streaming/public", {"Authorization": "Bearer any"}).response.status_code == 200


def test_no_auth_at_all(make_sim, make_client, stream_public):
    sim = make_sim(access_token=None)
    api = make_client(sim, token=None)
    listener, _ = stream_public(api, sim)
    sim.emit(20)
    expected = delivered(sim.ground_truth(), "public")
    assert listener.wait(lambda li: len(li.events) >= len(expected))
