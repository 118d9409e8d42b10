"""What the warehouse must hold after a drill, from the simulated instance's ground truth."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.helpers import query, version_key


@dataclass
class Expected:
    """The events one stream carried, and the posts, deletes and versions they imply."""

    events: list[Any]
    posts: dict[str, list[Any]] = field(default_factory=dict)  # status id -> its update events, in order
    deleted: set[str] = field(default_factory=set)
    unknown_deletes: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, truth: Any, stream: str) -> Expected:
        expected = cls([e for e in truth.events if stream in e.written_to])
        for event in expected.events:
            if event.event == "delete":
                (expected.deleted if event.status_id in expected.posts else expected.unknown_deletes).add(
                    event.status_id)
            else:
                expected.posts.setdefault(event.status_id, []).append(event)
        return expected

    def version_keys(self) -> Counter:
        return Counter(_same_kind(version_key(e.event, e.data)) for e in self.events)


def _same_kind(key: tuple[str, str, str]) -> tuple[str, str, str]:
    """A version of a status is the same whether it came as ``update`` or ``status.update`` (a back-fill
    stores the current version of an edited status as ``update``)."""
    kind, sid, edited = key
    return ("version" if kind in ("update", "status.update") else kind), sid, edited


def raw_version_keys(warehouse: Any, instance_id: str) -> Counter:
    """(``version`` or ``delete``, status id, edited_at) of every event in raw.stream_events, counted."""
    rows = query(warehouse, """
        select event_type, coalesce(payload_status_id, payload #>> '{}'), coalesce(payload->>'edited_at', '')
        from raw.stream_events where instance_id = %s""", (instance_id,))
    return Counter(_same_kind((kind, sid or "", edited)) for kind, sid, edited in rows)


def assert_marts_match(warehouse: Any, instance_id: str, expected: Expected) -> None:
    """The marts hold every post, version, delete, hashtag and event the stream carried, each exactly once."""
    posts = {row[0]: row[1:] for row in query(warehouse, """
        select post_id, is_deleted, version_count, content_html from marts.posts where instance_id = %s""",
        (instance_id,))}
    assert set(posts) == set(expected.posts), "posts lost or invented"
    assert {sid for sid, (deleted, _, _) in posts.items() if deleted} == expected.deleted
    for sid, events in expected.posts.items():
        deleted, version_count, content_html = posts[sid]
        assert version_count == len(events), f"post {sid}: {version_count} versions, {len(events)} delivered"
        if not deleted:
            assert content_html == json.loads(events[-1].data)["content"], f"post {sid}: not the newest version"

    # The event log: every event the stream delivered exactly once; a back-fill observation (a restarted
    # streamer fetching what the stream had already delivered) is logged as what it is, never as new content.
    logged = Counter(query(warehouse, "select event_type, status_id from marts.stream_events "
                                      "where instance_id = %s and source = 'stream'", (instance_id,)))
    assert logged == Counter((e.event, e.status_id) for e in expected.events), "an event lost or counted twice"
    fetched = {sid for (sid,) in query(warehouse, "select status_id from marts.stream_events "
                                                 "where instance_id = %s and source <> 'stream'", (instance_id,))}
    assert fetched <= set(expected.posts), "a back-fill brought a post the stream never carried"
    not_seen = {sid for (sid,) in query(warehouse, """
        select status_id from marts.stream_events
        where instance_id = %s and event_type = 'delete' and process_outcome = 'post_not_seen'""", (instance_id,))}
    assert not_seen == expected.unknown_deletes

    tags = Counter(query(warehouse, "select post_id, hashtag_name from marts.post_hashtags where instance_id = %s",
                         (instance_id,)))
    want = Counter((sid, tag["name"].lower()) for sid, events in expected.posts.items()
                   for tag in json.loads(events[-1].data)["tags"])
    assert tags == want, "hashtags of the current versions"
