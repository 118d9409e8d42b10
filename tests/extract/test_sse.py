"""The SSE parser keeps payload bytes exactly, across any chunking."""

from __future__ import annotations

from extract.sse import Heartbeat, SseEvent, parse

STREAM = (b":)\n:thump\nevent: update\ndata: {\"id\":\"1\",\"t\":\"caf\xc3\xa9\"}\n\n"
          b"event: delete\r\ndata: 109\r\n\r\nevent: update\ndata: \xff\xfe\n\n"
          b"event: status.update\ndata: line1\ndata: line2\n\nevent: delete\n\n")


def test_heartbeats_events_and_raw_bytes():
    items = list(parse([STREAM]))
    assert [i.comment for i in items if isinstance(i, Heartbeat)] == [b")", b"thump"]
    events = [i for i in items if isinstance(i, SseEvent)]
    assert events == [
        SseEvent("update", b'{"id":"1","t":"caf\xc3\xa9"}'),
        SseEvent("delete", b"109"),
        SseEvent("update", b"\xff\xfe"),
        SseEvent("status.update", b"line1\nline2"),
        SseEvent("delete", None),
    ]


def test_any_chunking_gives_the_same_result():
    whole = list(parse([STREAM]))
    for size in (1, 2, 3, 7, 64):
        chunks = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
        assert list(parse(chunks)) == whole
