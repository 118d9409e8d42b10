"""The dbt tests' scenario: two loads of raw events covering every case the marts must get right.

Load 1 (first dbt run) and load 2 (second, incremental run) are inserted separately so the tests can check
that an incremental build sees late and out-of-order events and equals a full refresh.
"""

from __future__ import annotations

import psycopg2.extensions
from dbt_payloads import (
    RawEvents,
    account,
    hashtag_html,
    insert_instance,
    link_html,
    media,
    mention_html,
    status,
    ts,
)

MS = "mastodon.social"
SIM = "127.0.0.1:8401"

ALICE = account("1001", "alice", None, display_name="Alice")
BOB = account("1002", "bob", "remote.example")
CAROL_NEVER_SEEN = account("2003", "carol", "far.example")
DAVE = account("1004", "dave", None, bot=True)
SIM_ALICE = account("77", "alice", "mastodon.social", home=SIM)
ERIN = account("1005", "erin", None, display_name="Erin")

HELLO_HTML = (
    f"<p>Hello {mention_html(BOB['url'], 'bob')} what a lovely day!</p>"
    f"<p>Second para &amp; more {hashtag_html(MS, 'Python')}</p>"
)
HELLO_TEXT = "Hello @bob what a lovely day!\n\nSecond para & more #Python"

LINK_URL = "https://example.com/a/very/long/path/that/keeps/going/on"
LINK_HTML = f"<p>Read {link_html(LINK_URL)}<br>now &lt;3 &#8212; &quot;ok&quot; &#39;fine&#39;&nbsp;&#x1F600;</p>"
LINK_TEXT = "Read example.com/a/very/long/path/that/k…\nnow <3 \u2014 \"ok\" 'fine' \U0001F600"

# Offline sentiment (VADER) labels the original positive ("original" scores 0.32) and every edit neutral: the
# first edit changes the post's sentiment, the next two do not.
EDIT_TEXTS = ["Original text", "First edit", "Second edit", "Third edit"]
# Post 125, created and edited in load 2: the edit keeps its positive sentiment.
STEADY_SENTIMENT_TEXTS = ["What a great day", "What a great day. Edit: fixed a typo."]


def load_first(conn: psycopg2.extensions.connection, raw: RawEvents) -> None:
    """Load 1: creates, a duplicate delivery, a back-fill of the same version, a delete before its create,
    one edit, a mention of a never-seen account, replies, media, bad payloads."""
    insert_instance(conn, MS, at=ts(0), streams=["public:local", "hashtag:python"])
    insert_instance(conn, SIM, at=ts(0), streams=["public"])

    hello = status("110", ALICE, HELLO_HTML, created=ts(1), tags=["Python"], mentions=[BOB], counts=(2, 1, 3))
    raw.add("update", hello, at=ts(1.1))
    raw.add("update", hello, at=ts(1.2))  # the same event delivered twice: same event_id, dropped
    raw.add("update", hello, at=ts(5), source="backfill")  # same version from another source

    # post 120: original + first edit in load 1; two more edits land in load 2
    raw.add("update", status("120", ALICE, f"<p>{EDIT_TEXTS[0]}</p>", created=ts(2)), at=ts(2.1))
    raw.add("status.update", status("120", ALICE, f"<p>{EDIT_TEXTS[1]}</p>", created=ts(2), edited=ts(3)),
            at=ts(3.1))

    # post 130: its delete arrives before its create
    raw.add("delete", "130", at=ts(4))
    raw.add("update", status("130", BOB, "<p>Federated late</p>", created=ts(3.5), home="remote.example"),
            at=ts(4.5))

    # post 140: created, deleted; an edit arrives after the delete (in load 2)
    raw.add("update", status("140", DAVE, "<p>Secret words</p>", created=ts(5),
                             media=[media("m140")], tags=["secret"]), at=ts(5.1))
    raw.add("delete", "140", at=ts(6))

    # a delete of a post never seen
    raw.add("delete", "150", at=ts(6.5))

    # a mention of an account never seen as an author
    raw.add("update", status("160", ALICE, f"<p>{mention_html(CAROL_NEVER_SEEN['url'], 'carol')} hi</p>",
                             created=ts(7), mentions=[CAROL_NEVER_SEEN]), at=ts(7.1))

    # replies: 170 -> 110, 171 -> 170, 180 -> 999 (never seen)
    raw.add("update", status("170", BOB, "<p>reply</p>", created=ts(8), in_reply_to=("110", "1001"),
                             home="remote.example"), at=ts(8.1))
    raw.add("update", status("171", ALICE, "<p>reply to reply</p>", created=ts(9), in_reply_to=("170", "1002")),
            at=ts(9.1))
    raw.add("update", status("180", DAVE, "<p>orphan</p>", created=ts(9.5), in_reply_to=("999", "1002")),
            at=ts(9.6))

    # link with invisible / ellipsis spans, entities, media
    raw.add("update", status("190", ALICE, LINK_HTML, created=ts(10), media=[media("m190")], sensitive=True,
                             spoiler="cw: food"), at=ts(10.1))

    # the same post (same uri) seen on a second monitored instance with its own local id
    raw.add("update", status("5001", SIM_ALICE, HELLO_HTML, created=ts(1), uri=hello["uri"], tags=["Python"],
                             mentions=[BOB], counts=(0, 0, 1), home=SIM),
            at=ts(2), instance_id=SIM, stream="public")

    # incremental edges of the marts (changed in load 2): 310 replies to 309, not seen yet; erin's only post
    # (320: a tag, media, a mention) is deleted later; 330 is edited later to drop a tag and mention carol
    raw.add("update", status("310", DAVE, "<p>reply to a post not seen yet</p>", created=ts(12),
                             in_reply_to=("309", "1002")), at=ts(12.1))
    raw.add("update", status("320", ERIN, "<p>Tea time</p>", created=ts(12.5), tags=["Tea"], mentions=[BOB],
                             media=[media("m320")]), at=ts(12.6))
    raw.add("update", status("330", DAVE, "<p>Tea or coffee</p>", created=ts(13), tags=["tea", "coffee"]),
            at=ts(13.1))

    # bad payloads: flagged, never fatal
    raw.add("update", None, at=ts(11), escaped_text='{"id": "666", "content": "\\u0000 broken',
            error="invalid JSON: unterminated string", status_id="666")
    raw.add("update", [1, 2, 3], at=ts(11.1), error="payload is a JSON array, expected a Status")
    no_id = status("0", ALICE, "<p>no id</p>", created=ts(11))
    del no_id["id"]
    raw.add("update", no_id, at=ts(11.2), error="Status without id")
    raw.add("update", status("667", ALICE, "<p>bad date</p>", created=ts(11)) | {"created_at": "2026-02-31T25:00:00Z"},
            at=ts(11.3))
    raw.add("conversation", {"id": "1", "accounts": []}, at=ts(11.4))
    raw.add("poll", status("110", ALICE, HELLO_HTML, created=ts(1), tags=["Python"], mentions=[BOB], counts=(2, 1, 3))
            | {"favourites_count": "lots"}, at=ts(11.5), source="poll", stream="/api/v1/statuses")
    raw.load(conn)


def load_second(conn: psycopg2.extensions.connection, raw: RawEvents) -> None:
    """Load 2 (after a dbt run): two more edits of 120, a post created and edited (125), an edit of 140 after
    its delete, a poll of 110 with new counts, a profile change of alice, and late / duplicate deliveries."""
    raw.add("update", status("125", ALICE, f"<p>{STEADY_SENTIMENT_TEXTS[0]}</p>", created=ts(18)), at=ts(18.1))
    raw.add("status.update", status("125", ALICE, f"<p>{STEADY_SENTIMENT_TEXTS[1]}</p>", created=ts(18),
                                    edited=ts(19)), at=ts(19.1))
    raw.add("status.update", status("120", ALICE, f"<p>{EDIT_TEXTS[2]}</p>", created=ts(2), edited=ts(20)),
            at=ts(20.1))
    raw.add("status.update", status("120", ALICE, f"<p>{EDIT_TEXTS[3]}</p>", created=ts(2), edited=ts(21)),
            at=ts(21.1))
    raw.add("update", status("120", ALICE, f"<p>{EDIT_TEXTS[3]}</p>", created=ts(2), edited=ts(21)),
            at=ts(22), source="backfill")
    raw.add("status.update", status("140", DAVE, "<p>Secret words, edited</p>", created=ts(5), edited=ts(5.5),
                                    media=[media("m140")], tags=["secret"]), at=ts(23))
    new_alice = account("1001", "alice", None, display_name="Alice 🌻", followers=11)
    raw.add("poll", status("110", new_alice, HELLO_HTML, created=ts(1), tags=["Python"], mentions=[BOB],
                           counts=(4, 10, 20)), at=ts(24), source="poll", stream="/api/v1/statuses")
    # a late duplicate of an event already loaded (same event_id): ignored
    hello = status("110", ALICE, HELLO_HTML, created=ts(1), tags=["Python"], mentions=[BOB], counts=(2, 1, 3))
    raw.add("update", hello, at=ts(25))
    # a late-arriving reply to 171 (created before the run, received after)
    raw.add("update", status("172", BOB, "<p>late reply</p>", created=ts(9.9), in_reply_to=("171", "1001"),
                             home="remote.example"), at=ts(26))
    # 309 arrives, itself a reply to 308 (never seen): the thread rooted at 309 becomes part of 308's
    raw.add("update", status("309", BOB, "<p>the missing parent</p>", created=ts(11.9), in_reply_to=("308", "1001"),
                             home="remote.example"), at=ts(25.3))
    # erin's only post is deleted: her profile history is deleted content, its tag no longer counts
    raw.add("delete", "320", at=ts(25.4))
    # 330 drops #coffee and now mentions carol (seen only in mentions: her last_seen_at moves)
    raw.add("status.update", status("330", DAVE, "<p>Tea, not coffee</p>", created=ts(13), edited=ts(25),
                                    tags=["tea"], mentions=[CAROL_NEVER_SEEN]), at=ts(25.5))
    raw.load(conn)
