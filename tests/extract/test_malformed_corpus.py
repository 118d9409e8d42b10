"""Bad input never stops the pipeline: every malformed event is kept, with its error, beside valid ones."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from extract.events import RawEvent, normalise
from extract.raw_loader import RawLoader

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
GOOD = json.dumps({"id": "109000000000000001", "uri": "https://a.example/s/1", "content": "<p>ok</p>"})

# (name, event type, payload bytes or None, expected error fragment or None, expected escaped)
CORPUS: list[tuple[str, str, bytes | None, str | None, bool]] = [
    ("truncated json", "update", b'{"id": "1", "content": "<p>cut', "not valid JSON", True),
    ("trailing garbage", "update", b'{"id": "1"} trailing', "not valid JSON", True),
    ("single quotes", "update", b"{'id': '1'}", "not valid JSON", True),
    ("empty payload", "update", b"", "not valid JSON", True),
    ("whitespace payload", "update", b"   \n ", "not valid JSON", True),
    ("no data line", "update", None, "without a payload", False),
    ("json array", "update", b'[{"id": "1"}]', "JSON list, not a Status", False),
    ("json string", "update", b'"just text"', "JSON str, not a Status", False),
    ("json number", "status.update", b"12345", "JSON int, not a Status", False),
    ("json null", "update", b"null", "JSON NoneType, not a Status", False),
    ("status without id", "update", b'{"content": "<p>x</p>"}', "no valid status id", False),
    ("status id is an object", "update", b'{"id": {"n": 1}}', "no valid status id", False),
    ("status id not numeric", "update", b'{"id": "abc"}', "no valid status id", False),
    ("status id negative", "update", b'{"id": -5}', "no valid status id", False),
    ("status id boolean", "update", b'{"id": true}', "no valid status id", False),
    ("delete with words", "delete", b"not-an-id", "not valid JSON", True),
    ("delete with object", "delete", b'{"id": "1"}', "not a status id", False),
    ("delete too long", "delete", b"1" * 30, "not a status id", False),
    ("nul escape in content", "update", b'{"id": "7", "content": "a\\u0000b"}', "\\u0000", True),
    ("raw nul byte", "update", b'{"id": "8", "content": "a\x00b"}', "not valid JSON", True),
    ("invalid utf-8", "update", b'{"id": "9", "content": "caf\xe9"}', "not valid UTF-8", True),
    ("overlong utf-8", "update", b'{"id": "10", "content": "\xc0\xaf"}', "not valid UTF-8", True),
    ("lone surrogate escape", "update", b'{"id": "11", "content": "\\ud83d"}', "surrogate", True),
    ("deep nesting", "update", b"[" * 100_000 + b"]" * 100_000, "not valid JSON", True),
    ("unknown event", "filters_changed", b"", "unknown event type", True),
    ("unknown event with json", "announcement", b'{"id": "1"}', "unknown event type", False),
    ("poll missing id", "poll.missing", b"x1", "not valid JSON", True),
    ("NaN number", "update", b'{"id": "12", "meta": {"aspect": NaN}}', "not valid JSON", True),
    ("Infinity number", "update", b'{"id": "13", "meta": {"aspect": -Infinity}}', "not valid JSON", True),
    ("utf-8 byte order mark", "update", b'\xef\xbb\xbf{"id": "14"}', "not valid JSON", True),
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize(("name", "event_type", "payload", "error", "escaped"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_malformed_input_is_flagged(name, event_type, payload, error, escaped):
    row = normalise(RawEvent("a.example", "https://a.example", "public", "stream", event_type, NOW, payload))
    assert row.payload_error is not None and error in row.payload_error
    assert row.payload_escaped is escaped
    if escaped:
        # the exact bytes survive, base64-encoded, so the escaping is reversible
        assert base64.b64decode(row.payload_raw_base64) == payload
        assert isinstance(json.loads(row.payload_json), str)


def test_valid_events_have_no_error():
    update = normalise(RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW,
                                GOOD.encode()))
    delete = normalise(RawEvent("a.example", "https://a.example", "public", "stream", "delete", NOW,
                                b"109000000000000001"))
    assert update.payload_error is None and update.payload_status_id == "109000000000000001"
    assert delete.payload_error is None and json.loads(delete.payload_json) == "109000000000000001"


def test_numbers_are_kept_exactly():
    payload = b'{"id": "15", "big": 123456789012345678901234567890, "neg": -98765432109876543210, "f": 0.1}'
    row = normalise(RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, payload))
    assert row.payload_error is None
    assert json.loads(row.payload_json) == {"id": "15", "big": 123456789012345678901234567890,
                                            "neg": -98765432109876543210, "f": 0.1}


def test_event_id_is_deterministic_and_ignores_formatting():
    a = normalise(RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, GOOD.encode()))
    spaced = json.dumps(json.loads(GOOD), indent=4).encode()
    b = normalise(RawEvent("a.example", "https://a.example", "public:local", "stream", "update", NOW, spaced))
    other_source = normalise(RawEvent("a.example", "https://a.example", "x", "backfill", "update", NOW, spaced))
    assert a.event_id == b.event_id
    assert a.event_id != other_source.event_id


def test_whole_corpus_loads_with_valid_events_around_it(warehouse, tmp_path):
    """Malformed events and a multi-megabyte payload land in PostgreSQL beside the valid events."""
    huge = json.dumps({"id": "109000000000000099", "content": "<p>" + "é" * 3_000_000 + "</p>"}).encode()
    events = []
    for index, (_, event_type, payload, _, _) in enumerate(CORPUS):
        good = json.dumps({"id": str(109000000000000100 + index), "content": f"<p>valid {index}</p>"})
        events.append(RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, good.encode()))
        events.append(RawEvent("a.example", "https://a.example", "public", "stream", event_type, NOW, payload))
    events.append(RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, huge))

    report = RawLoader(warehouse.dsn, tmp_path).load_batch("test:corpus", events)
    assert report.rows == len(events)

    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.stream_events where payload_error is null and payload->>'content' "
                    "like '<p>valid %%'")
        assert cur.fetchone()[0] == len(CORPUS)
        cur.execute("select count(*) from raw.stream_events where payload_error is not null")
        assert cur.fetchone()[0] == len(CORPUS)
        cur.execute("select length(payload->>'content') from raw.stream_events "
                    "where payload_status_id = '109000000000000099'")
        assert cur.fetchone()[0] == 3_000_007
        # escaped payloads can be turned back into exactly what was received
        cur.execute("select payload_raw_base64 from raw.stream_events where payload_escaped")
        restored = {base64.b64decode(value or "") for (value,) in cur.fetchall()}
    assert {c[2] for c in CORPUS if c[4]} <= restored


# Payloads at the edges of the loader's short road (events._normalise_common): numbers written with exponents,
# "e+" and \u0000 as text, redacted replays, ids with whitespace, the wrong source, a naive timestamp.
EDGES: list[tuple[str, bytes | None]] = [
    ("update", b'{"id": "20", "content": "Google+ and e+ in the text"}'),
    ("update", b'{"id": "21", "meta": {"aspect": 1.7777777777777777, "focus": {"x": -0.5, "y": 5.2e-05}}}'),
    ("update", b'{"id": "22", "content": "e+", "small": 0.0000521971290620896}'),
    ("update", b'{"id": "23", "big": 18446744073709551616}'),
    ("update", b'{"id": "24", "content": "a literal \\\\u0000 is text, not a NUL"}'),
    ("update", b'{"id": "25", "k\\u0000ey": 1}'),
    ("update", b'{"id": "26", "content": "caf\\u00e9 \\ud83d\\ude00 \xc3\xa9", "z": 1, "a": [true, null]}'),
    ("update", b'{"id": "27", "forkalytics_redacted": "' + b"a" * 40 + b'", "content": ""}'),
    ("update", b'{"id": "28", "forkalytics_redacted": "not-an-event-id"}'),
    ("update", b'{"id": 29, "content": "numeric id"}'),
    ("delete", b" 109000000000000030\n"),
    ("delete", b"109000000000000031"),
    ("delete", b"12345678901234567890123"),
    ("poll.missing", b"109000000000000032"),
    ("announcement", b'{"id": "33"}'),
    ("update", b'  {"id": "34"}  '),
]


def _general_and_common_events():
    from extract.simulator import SimulatedInstance, SimulatorConfig

    events = [RawEvent("a.example", "https://a.example", "public", "stream", kind, NOW, payload)
              for kind, payload in EDGES]
    events += [RawEvent("a.example", "https://a.example", "public", "stream", kind, NOW, payload)
               for _, kind, payload, _, _ in CORPUS]
    events += [RawEvent("a.example", "https://a.example", "public", "nowhere", "update", NOW, GOOD.encode()),
               RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW.replace(tzinfo=None),
                        GOOD.encode())]
    sim = SimulatedInstance(SimulatorConfig(domain="sim.example", seed=5, events_per_second=0, access_token=None,
                                            clock=lambda: NOW))
    generated = [RawEvent("sim.example", "https://sim.example", "public", "stream", event.event, NOW,
                          event.data.encode()) for event in sim.emit(600)]
    return events, generated


def test_the_loaders_short_road_gives_the_rows_of_the_general_one():
    """Every event the short road takes gets exactly the row (event id, canonical payload, status id, error)
    and the parsed Status the general road gives it; it takes almost all realistic events."""
    from extract.events import _normalise_common, _normalise_general

    edges, generated = _general_and_common_events()
    taken = 0
    for event in edges + generated:
        common = _normalise_common(event, event.payload) if event.payload is not None else None
        if common is not None:
            taken += 1
            assert common == _normalise_general(event), event
    short_generated = sum(_normalise_common(event, event.payload) is not None for event in generated)
    assert short_generated >= 0.95 * len(generated)
    assert taken > short_generated  # some edge cases too (the plain ones), not only the generated events


def test_exact_json_helpers_keep_every_number():
    from extract.events import dumps_sorted, loads_exact

    text = '{"b": 123456789012345678901234567890, "a": [-98765432109876543210, 0.1, 5.2e-05, "e+"], "c": "\\ud83d"}'
    value = loads_exact(text)
    assert value == json.loads(text)
    assert value["b"] == 123456789012345678901234567890 and isinstance(value["b"], int)
    assert json.loads(dumps_sorted(value)) == value
    assert dumps_sorted({"z": 1, "a": "é"}) == '{"a":"é","z":1}'
    assert loads_exact('{"id": "117527195586912103", "n": 12}') == {"id": "117527195586912103", "n": 12}
