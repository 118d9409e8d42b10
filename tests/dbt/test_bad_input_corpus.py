"""Bad input through the whole pipeline: extractor normalisation → real dlt loader → raw → dbt build → marts.

Every case is its own instance (``case-NN.example``), so its rows are found by instance_id. Events go through
``RawLoader.load_batch`` (the loader production uses) in two loads, with an incremental dbt build after each
and a --full-refresh build at the end. Nothing may crash and every build must pass all its data tests; each
case then shows what it became: the outcome and error of each event in marts.stream_events, and the posts
it produced (or not). The extractor's malformed-frame corpus (tests/extract) is reused as the first cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dbt_payloads import account, iso, media, mention_entity, prepare_sources, status, ts
from marts_snapshot import CORE_SELECTION, snapshot_marts

from extract.events import RawEvent
from extract.raw_loader import RawLoader
from orchestration.dbt_runner import run_dbt
from tests.extract.test_malformed_corpus import CORPUS as FRAME_CORPUS
from tests.helpers import scratch_warehouse

pytestmark = pytest.mark.slow

ALICE = account("501", "alice", None)
BOB = account("502", "bob", "remote.example")
NEVER_SEEN = account("503", "ghost", "far.example")


def post(status_id: str, text: str = "<p>Hello <b>world</b></p>", **overrides: Any) -> dict[str, Any]:
    """A valid Status of ALICE created at ts(1), with ``overrides`` applied to its JSON."""
    doc = status(status_id, ALICE, text, created=ts(1), home="case.example")
    doc.update(overrides)
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


@dataclass
class Case:
    """Events of one case: (load number 1 or 2, event type, payload bytes or None, minutes, source)."""

    name: str
    events: list[tuple[int, str, bytes | None, float, str]]
    # process_outcome of each event in marts.stream_events (one row per distinct event), in received order
    outcomes: list[str]
    # a fragment each event's process_error must contain (None: no error)
    errors: list[str | None] | None = None
    # the expected marts.posts row (selected columns) for the case's post id, or None for no post at all
    post: dict[str, Any] | None = None
    check: Callable[[Marts, str], None] | None = None
    instance_id: str = ""


def ev(event_type: str, payload: bytes | None, minutes: float = 2.0, *, load: int = 1,
       source: str = "stream") -> tuple[int, str, bytes | None, float, str]:
    return (load, event_type, payload, minutes, source)


class Marts:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def query(self, statement: str, params: tuple = ()) -> list[dict[str, Any]]:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()


def frame_cases() -> list[Case]:
    """The extractor's malformed frames: each one event, rejected with the reason, or noted and applied."""
    cases = []
    for name, event_type, payload, _error, _escaped in FRAME_CORPUS:
        if name == "delete too long":
            outcome, error = "post_not_seen", "not a status id"
        else:
            outcome, error = "rejected", ""
        cases.append(Case(f"frame: {name}", [ev(event_type, payload)], [outcome], [error]))
    return cases


def has_versions(texts: list[str | None]) -> Callable[[Marts, str], None]:
    def check(marts: Marts, instance_id: str) -> None:
        rows = marts.query("select content_text from marts.post_versions where instance_id = %s "
                           "order by post_id, version_seq", (instance_id,))
        assert [r["content_text"] for r in rows] == texts
    return check


def bridge(table: str, column: str, expected: list[str]) -> Callable[[Marts, str], None]:
    def check(marts: Marts, instance_id: str) -> None:
        rows = marts.query(f"select {column} as v from marts.{table} where instance_id = %s order by position",
                           (instance_id,))
        assert [r["v"] for r in rows] == expected
    return check


SID_ORIGINAL = "700000000000000001"
ORIGINAL = status(SID_ORIGINAL, BOB, "<p>worth sharing</p>", created=ts(1), home="remote.example")


def boost_is_linked(marts: Marts, instance_id: str) -> None:
    """A boost is a post row linking to the boosted post; threads and federation-wide counts leave it out."""
    boost = marts.query("select * from marts.posts where instance_id = %s and is_reblog", (instance_id,))
    assert [(b["reblog_of_id"], b["reblog_of_uri"], b["content_text"]) for b in boost] == \
        [(SID_ORIGINAL, ORIGINAL["uri"], "")]
    federated = marts.query("select uri from marts.fediverse_posts "
                            "where instance_ids @> jsonb_build_array(%s::text)", (instance_id,))
    assert [f["uri"] for f in federated] == [ORIGINAL["uri"]]
    assert marts.query("select * from marts.conversation_threads where instance_id = %s", (instance_id,)) == []


HUGE = "<p>" + "long words here " * 70_000 + "</p>"  # ~1.1 MB of content
SID = "700000000000000001"


def pipeline_cases() -> list[Case]:
    bad_count = post(SID, favourites_count="many", reblogs_count=-3, replies_count=10**30)
    return [
        Case("counts of the wrong type", [ev("update", raw(bad_count))], ["applied"],
             ["invalid replies_count ignored; invalid reblogs_count ignored; invalid favourites_count ignored"],
             post={"favourites_count": 0, "replies_count": 0, "reblogs_count": 0, "metrics_observed_at": None}),
        Case("sensitive flag not a boolean", [ev("update", raw(post(SID, sensitive="yes")))], ["applied"],
             ["invalid sensitive flag ignored"], post={"sensitive": False}),
        Case("impossible created_at", [ev("update", raw(post(SID, created_at="2026-13-45T10:00:00Z")))],
             ["rejected"], ["missing or invalid created_at: 2026-13-45T10:00:00Z"]),
        Case("created_at missing", [ev("update", raw({k: v for k, v in post(SID).items() if k != "created_at"}))],
             ["rejected"], ["missing or invalid created_at: null"]),
        Case("created_at as epoch number", [ev("update", raw(post(SID, created_at=1764000000)))],
             ["rejected"], ["missing or invalid created_at: 1764000000"]),
        Case("created_at with an offset", [ev("update", raw(post(SID, created_at="2026-11-20T14:01:00+02:00")))],
             ["applied"], post={"created_at": ts(1)}),
        Case("edited_at garbage", [ev("status.update", raw(post(SID, edited_at="yesterday")))],
             ["rejected"], ["invalid edited_at: yesterday"]),
        Case("status without account", [ev("update", raw({**post(SID), "account": None}))],
             ["rejected"], ["status has no account id"]),
        Case("account is a string", [ev("update", raw({**post(SID), "account": "alice"}))],
             ["rejected"], ["status has no account id"]),
        Case("content null", [ev("update", raw(post(SID, content=None)))], ["applied"],
             post={"content_text": None, "content_html": None}),
        Case("content a number", [ev("update", raw(post(SID, content=42)))], ["applied"],
             post={"content_text": "42"}),
        Case("empty status object", [ev("update", b"{}")], ["rejected"], ["payload has no status id"]),
        Case("status id too long", [ev("update", raw(post("9" * 70)))], ["rejected"], ["invalid status id"]),
        Case("huge content", [ev("update", raw(post(SID, content=HUGE)))], ["applied"],
             check=lambda m, i: _assert(m.query("select length(content_text) as n from marts.posts "
                                                "where instance_id = %s", (i,))[0]["n"] > 1_000_000)),
        Case("tags not an array", [ev("update", raw(post(SID, tags="python")))], ["applied"],
             post={"hashtags": []}),
        Case("tags of the wrong shape", [ev("update", raw(post(SID, tags=[1, None, "x", {"url": "u"},
                                                                           {"name": ["a"]}])))],
             ["applied"], post={"hashtags": []}),
        Case("duplicate and decorated tags", [ev("update", raw(post(SID, tags=[
            {"name": "Python"}, {"name": "python"}, {"name": "#Café"}, {"name": "日曜日"}])))],
             ["applied"], post={"hashtags": ["python", "café", "日曜日"]},
             check=bridge("post_hashtags", "hashtag_name", ["python", "café", "日曜日"])),
        Case("mentions of the wrong shape", [ev("update", raw(post(SID, mentions=[
            "bob", None, {"acct": "no-id"}, mention_entity(NEVER_SEEN), mention_entity(NEVER_SEEN)])))],
             ["applied"], check=bridge("post_mentions", "acct", ["ghost@far.example"])),
        Case("mentions an object", [ev("update", raw(post(SID, mentions={"id": "1"})))], ["applied"],
             post={"mentions": []}),
        Case("media not an array", [ev("update", raw(post(SID, media_attachments={"id": "m1"})))], ["applied"],
             post={"has_media": False, "media_count": 0}),
        Case("media of an unknown type", [ev("update", raw(post(SID, media_attachments=[
            {**media("m1"), "type": "hologram"}, {**media("m2"), "type": None}, "not media"])))],
             ["applied"], check=bridge("media_attachments", "media_type", ["unknown", "unknown"])),
        Case("visibility unknown", [ev("update", raw(post(SID, visibility="galactic")))], ["applied"],
             ["unknown visibility ignored: galactic"], post={"visibility": None}),
        Case("unknown fields and a poll of the wrong shape",
             [ev("update", raw(post(SID, future_field={"x": [1, 2]}, poll="yes", reblog="no")))], ["applied"],
             post={"has_poll": False, "is_reblog": False}),
        Case("control characters and bidi text", [ev("update", raw(post(
            SID, content="<p>\u202eevil\u202c \u200bzero\u2028line\x07bell</p>")))], ["applied"],
             post={"content_text": "\u202eevil\u202c \u200bzero\u2028line\x07bell"}),
        Case("edit before create", [ev("status.update", raw(post(SID, "<p>v2</p>", edited_at=iso(ts(5)))), 6),
                                    ev("update", raw(post(SID, "<p>v1</p>")), 7)],
             ["applied", "applied"], post={"version_count": 2, "content_text": "v2"},
             check=has_versions(["v1", "v2"])),
        Case("delete before create", [ev("delete", SID.encode(), 3), ev("update", raw(post(SID)), 4)],
             ["applied", "applied_after_delete"], post={"deleted_at": ts(3), "content_text": None}),
        Case("delete before create, in separate loads",
             [ev("delete", SID.encode(), 3), ev("update", raw(post(SID)), 4, load=2)],
             ["applied", "applied_after_delete"], post={"deleted_at": ts(3), "content_text": None}),
        Case("edit after delete", [ev("update", raw(post(SID)), 2), ev("delete", SID.encode(), 3),
                                   ev("status.update", raw(post(SID, "<p>late</p>", edited_at=iso(ts(2.5)))), 4,
                                      load=2)],
             ["applied", "applied", "applied_after_delete"],
             post={"deleted_at": ts(3), "version_count": 2, "content_text": None}),
        Case("duplicate delivery in one load", [ev("update", raw(post(SID)), 2), ev("update", raw(post(SID)), 2.5)],
             ["applied"], post={"version_count": 1}),
        Case("duplicate delivery across loads", [ev("update", raw(post(SID)), 2),
                                                 ev("update", raw(post(SID)), 8, load=2)],
             ["applied"], post={"version_count": 1}),
        Case("same status from stream and back-fill", [ev("update", raw(post(SID)), 2),
                                                       ev("update", raw(post(SID)), 3, source="backfill")],
             ["applied", "applied"], post={"version_count": 1}),
        Case("delete delivered twice", [ev("update", raw(post(SID)), 2), ev("delete", SID.encode(), 3),
                                        ev("delete", SID.encode(), 4, load=2)],
             ["applied", "applied"], post={"deleted_at": ts(3)}),
        Case("clock skew: created in the future", [ev("update", raw(post(SID, created_at=iso(ts(600)))), 2)],
             ["applied"], post={"created_at": ts(600), "version_count": 1}),
        Case("clock skew: edited before created", [
            ev("update", raw(post(SID, "<p>v1</p>")), 2),
            ev("status.update", raw(post(SID, "<p>v2</p>", edited_at=iso(ts(0.5)))), 3)],
             ["applied", "applied"], post={"version_count": 2, "content_text": "v2"},
             check=has_versions(["v1", "v2"])),
        Case("changed content without edited_at", [ev("update", raw(post(SID, "<p>v1</p>")), 2),
                                                   ev("update", raw(post(SID, "<p>v1 again</p>")), 3)],
             ["applied", "applied"], post={"version_count": 2, "content_text": "v1 again"},
             check=has_versions(["v1", "v1 again"])),
        Case("replies in a cycle", [
            ev("update", raw(post(SID, in_reply_to_id="700000000000000002", in_reply_to_account_id="501")), 2),
            ev("update", raw(post("700000000000000002", in_reply_to_id=SID, in_reply_to_account_id="501")), 3),
            ev("update", raw(post("700000000000000003", in_reply_to_id="700000000000000003",
                                  in_reply_to_account_id="501")), 4)],
             ["applied", "applied", "applied"], post={"is_reply": True}),
        Case("poll of a post never seen", [ev("poll", raw(post(SID)), 2, source="poll")], ["applied"],
             post={"version_count": 1}),
        Case("poll.missing of a post never seen", [ev("poll.missing", SID.encode(), 2, source="poll")],
             ["post_not_seen"]),
        Case("poll.missing of a seen post", [ev("update", raw(post(SID)), 2),
                                            ev("poll.missing", SID.encode(), 3, source="poll")],
             ["applied", "applied"], post={"deleted_at": ts(3), "deletion_reason": "gone"}),
        Case("delete as a JSON string", [ev("update", raw(post(SID)), 2), ev("delete", f'"{SID}"'.encode(), 3)],
             ["applied", "applied"], post={"is_deleted": True}),
        Case("delete of an id never seen", [ev("delete", b"700000000000000999", 2)], ["post_not_seen"]),
        Case("unknown event type with a status", [ev("status.reaction", raw(post(SID)), 2)], ["rejected"],
             ["unknown event type: status.reaction"]),
        Case("boost of a post seen before", [
            ev("update", raw(ORIGINAL), 2),
            ev("update", raw(post("700000000000000002", "", reblog=ORIGINAL, url=None,
                                  uri="https://case.example/users/alice/statuses/700000000000000002/activity")), 3)],
             ["applied", "applied"], check=boost_is_linked),
        Case("boost without an id", [ev("update", raw(post(SID, reblog={"uri": "https://x.example/1"})))],
             ["applied"], post={"is_reblog": False, "reblog_of_id": None, "reblog_of_uri": "https://x.example/1"}),
        Case("uri missing", [ev("update", raw(post(SID, uri=None)))], ["applied"], post={"uri": None},
             check=lambda m, i: _assert(m.query("select count(*) as n from marts.fediverse_posts "
                                                "where uri is null")[0]["n"] == 0)),
        Case("account without acct", [ev("update", raw(post(SID, account={**ALICE, "acct": None,
                                                                          "username": None})))],
             ["applied"], post={"account_acct": None}),
    ]


def _assert(condition: bool) -> None:
    assert condition


CASES = frame_cases() + pipeline_cases()
for number, case in enumerate(CASES, start=1):
    case.instance_id = f"case-{number:02d}.example"


def raw_events(load: int) -> list[RawEvent]:
    return [RawEvent(case.instance_id, f"https://{case.instance_id}", "public" if source == "stream" else
                     "/api/v1/statuses", source, event_type, ts(minutes), payload)
            for case in CASES for (batch, event_type, payload, minutes, source) in case.events if batch == load]


@dataclass
class Built:
    marts: Marts
    results: list[Any] = field(default_factory=list)
    incremental: dict[str, list[tuple]] = field(default_factory=dict)
    full_refresh: dict[str, list[tuple]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def built(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    state_dir = Path(tmp_path_factory.mktemp("bad_input"))
    with scratch_warehouse(pg_server, "bad_input", state_dir / "unused") as warehouse:
        dsn = warehouse.dsn
        conn = psycopg2.connect(dsn)
        prepare_sources(conn)
        conn.close()
        loader = RawLoader(dsn, state_dir)
        done = Built(Marts(dsn))
        for load in (1, 2):
            report = loader.load_batch(f"corpus-{load}", raw_events(load))
            assert report.rows == len(raw_events(load))
            done.results.append(run_dbt(["build", *CORE_SELECTION], dsn, state_dir=state_dir, quiet=True))
        done.incremental = snapshot_marts(dsn)
        done.results.append(run_dbt(["build", *CORE_SELECTION, "--full-refresh"], dsn, state_dir=state_dir,
                                    quiet=True))
        done.full_refresh = snapshot_marts(dsn)
        yield done


def test_the_corpus_is_large_and_covers_every_kind_of_bad_input():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


def test_every_build_passes_with_the_corpus_loaded(built):
    for result in built.results:
        assert result.success and result.failures == [] and result.counts.get("skip", 0) == 0, \
            result.summary + "\n" + result.output_tail


def test_incremental_builds_equal_a_full_refresh(built):
    assert built.incremental == built.full_refresh


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_is_explained_in_the_marts(built, case):
    marts = built.marts
    events = marts.query("select * from marts.stream_events where instance_id = %s "
                         "order by received_at, event_type", (case.instance_id,))
    assert [e["process_outcome"] for e in events] == case.outcomes
    if case.errors is not None:
        for event, fragment in zip(events, case.errors, strict=True):
            if fragment is None:
                assert event["process_error"] is None
            else:
                assert event["process_error"] is not None and fragment in event["process_error"]
    for event, outcome in zip(events, case.outcomes, strict=True):
        if outcome == "rejected":
            assert event["process_error"]
    posts = marts.query("select * from marts.posts where instance_id = %s order by post_id", (case.instance_id,))
    if case.post is None and case.check is None:
        applied_statuses = [e for e in events if e["process_outcome"] == "applied" and e["event_type"] != "delete"
                            and e["event_type"] != "poll.missing"]
        assert len(posts) == len({e["status_id"] for e in applied_statuses})
    if case.post is not None:
        assert posts, "no post"
        row = posts[0]
        got = {key: row[key] for key in case.post}
        assert got == case.post
    if case.check is not None:
        case.check(marts, case.instance_id)


def test_rejected_events_never_become_posts(built):
    rows = built.marts.query("""
        select e.instance_id, e.status_id from marts.stream_events as e
        where e.process_outcome = 'rejected' and e.status_id is not null
          and not exists (select 1 from marts.stream_events as ok where ok.instance_id = e.instance_id
                          and ok.status_id = e.status_id and ok.process_outcome <> 'rejected')
          and exists (select 1 from marts.posts as p where p.instance_id = e.instance_id
                      and p.post_id = e.status_id)""")
    assert rows == []


def test_no_event_is_lost(built):
    loaded = built.marts.query("select count(distinct event_id) as n from raw.stream_events")[0]["n"]
    logged = built.marts.query("select count(*) as n from marts.stream_events")[0]["n"]
    assert logged == loaded
