"""One received event, and how it becomes a row of ``raw.stream_events``.

The extractor never interprets a Status beyond finding its id: parsing belongs to dbt, so models can be
fixed and rebuilt from the log. What this module guarantees is that *every* event can be stored:

* valid JSON is stored as ``jsonb`` (PostgreSQL normalises whitespace and key order, nothing else);
* JSON that PostgreSQL cannot store (``\\u0000`` in a string), text that is not JSON, and bytes that are not
  UTF-8 are stored as a JSON *string* holding the received text, with ``payload_escaped = true``, the reason
  in ``payload_error`` and the exact bytes in ``payload_raw_base64`` (so the escaping is reversible);
* a payload of the wrong shape (an array for ``update``, a Status without ``id``, a ``delete`` that is not an
  id) is stored as parsed, with ``payload_error`` saying what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

STATUS_EVENTS = frozenset({"update", "status.update", "poll"})
ID_EVENTS = frozenset({"delete", "poll.missing"})
KNOWN_EVENTS = STATUS_EVENTS | ID_EVENTS
SOURCES = frozenset({"stream", "backfill", "poll", "import", "legacy"})
_STATUS_ID = re.compile(r"^[0-9]{1,20}$")
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# A payload redacted by ``forkalytics retention`` keeps the id of the event it replaced under this key, so a
# redacted row, and the replay of its archive line, is still the same event.
REDACTED_KEY = "forkalytics_redacted"
_EVENT_ID = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class RawEvent:
    """An event as received: who sent it, on which stream, when, and the payload bytes exactly."""

    instance_id: str
    instance_url: str
    stream: str
    source: str
    event_type: str
    received_at: datetime
    payload: bytes | None

    def to_spool(self) -> dict[str, Any]:
        """A JSON-safe dict for the durable buffer (bytes that are not UTF-8 travel as base64)."""
        record: dict[str, Any] = {
            "i": self.instance_id, "u": self.instance_url, "s": self.stream, "o": self.source,
            "e": self.event_type, "t": self.received_at.isoformat(),
        }
        if self.payload is not None:
            try:
                record["p"] = self.payload.decode("utf-8")
            except UnicodeDecodeError:
                record["b"] = base64.b64encode(self.payload).decode("ascii")
        return record

    @classmethod
    def from_spool(cls, record: dict[str, Any]) -> RawEvent:
        if "p" in record:
            payload: bytes | None = record["p"].encode("utf-8", "surrogatepass")
        elif "b" in record:
            payload = base64.b64decode(record["b"])
        else:
            payload = None
        return cls(instance_id=record["i"], instance_url=record["u"], stream=record["s"], source=record["o"],
                   event_type=record["e"], received_at=datetime.fromisoformat(record["t"]), payload=payload)


@dataclass(frozen=True)
class RawRow:
    """A row of ``raw.stream_events`` (without the loader's bookkeeping columns)."""

    event_id: str
    instance_id: str
    instance_url: str
    stream: str
    source: str
    event_type: str
    received_at: datetime
    payload_json: str | None
    payload_status_id: str | None
    payload_error: str | None
    payload_escaped: bool
    payload_raw_base64: str | None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _orjson_canonical(payload: bytes) -> tuple[Any, bytes] | None:
    """orjson's parse of a payload and its canonical form (sorted keys, compact, UTF-8), or None when the
    standard library must decide: orjson refuses the payload (not UTF-8, lone surrogates, NaN), or writes an
    exponent (it reads an integer beyond 64 bits as a float; a one-byte search for "+" first: searching for
    "e+" itself is ten times slower)."""
    try:
        parsed = orjson.loads(payload)
        canonical = orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    if b"+" in canonical and b"e+" in canonical:
        return None
    return parsed, canonical


def _parse_json(payload: bytes, text: str) -> tuple[Any, str | None]:
    """The parsed payload and its canonical text (sorted keys, compact, UTF-8; None when it cannot be encoded).

    orjson does the common case (several times faster, and byte-identical output for Mastodon's JSON);
    anything it refuses (integers beyond 64 bits, lone surrogates) goes through the standard library, so a
    given payload always takes the same path and gets the same event id. NaN and Infinity are not JSON and
    PostgreSQL's jsonb refuses them: they raise ValueError like any other invalid JSON.
    """
    fast = _orjson_canonical(payload)
    if fast is not None:
        return fast[0], fast[1].decode("utf-8")
    parsed = json.loads(text, parse_constant=_reject_constant)
    return parsed, _canonical(parsed)


# A run of 19 digits may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def loads_exact(text: str) -> Any:
    """JSON text as the standard library reads it (integers of any size kept exact), with orjson's speed
    whenever that gives the same value: text holding a run of 19 digits, and anything orjson refuses, is
    read by the standard library."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps_sorted(value: Any) -> str:
    """Compact JSON with sorted keys, not ASCII-escaped (as ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)``; a float may be written in another, equal form)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError: integers beyond 64 bits, lone surrogates
        return _canonical(value)


_ID_PREFIXES: dict[tuple[str, str, str], Any] = {}


def event_id_for(instance_id: str, source: str, event_type: str, canonical_payload: bytes) -> str:
    """Deterministic id: the same event delivered twice (or loaded twice) gets the same id."""
    key = (instance_id, source, event_type)
    prefix = _ID_PREFIXES.get(key)
    if prefix is None:
        prefix = hashlib.sha256()
        for part in key:
            prefix.update(part.encode())
            prefix.update(b"\x1f")
        if len(_ID_PREFIXES) < 1024:  # a few instances, sources and event types; never unbounded
            _ID_PREFIXES[key] = prefix
    digest = prefix.copy()
    digest.update(canonical_payload)
    return digest.hexdigest()[:40]


def _status_id_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 2**63:  # Mastodon ids are snowflakes that fit a bigint
        return str(value)
    if isinstance(value, str) and _STATUS_ID.match(value.strip()):
        return value.strip()
    return None


def _shape_error(event_type: str, parsed: Any) -> tuple[str | None, str | None]:
    """(status id, error) for a parsed payload of the given event type."""
    if event_type in STATUS_EVENTS:
        if not isinstance(parsed, dict):
            return None, f"{event_type} payload is a JSON {type(parsed).__name__}, not a Status object"
        status_id = _status_id_of(parsed.get("id"))
        if status_id is None:
            return None, f"{event_type} payload has no valid status id"
        return status_id, None
    if event_type in ID_EVENTS:
        status_id = _status_id_of(parsed)
        if status_id is None:
            return None, f"{event_type} payload is not a status id"
        return status_id, None
    return None, f"unknown event type {event_type!r}"


def _normalise_common(event: RawEvent, payload: bytes) -> tuple[RawRow, Any] | None:
    """The common cases of :func:`normalise_parsed` (almost every event), by a shorter road that gives the row
    :func:`_normalise_general` gives: a JSON payload orjson reads and writes back without an exponent (see
    :func:`_orjson_canonical`) and without a ``\\u0000`` escape, or the bare status id of a ``delete``. ``None`` for
    anything else, which then takes the general road. (orjson refuses bytes that are not UTF-8, exactly as
    ``bytes.decode`` does.)"""
    if event.event_type in ID_EVENTS:
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
        if not _STATUS_ID.match(text):
            return None
        parsed: Any = text
        payload_json = f'"{text}"'  # what json.dumps writes for a string of digits
        canonical = payload_json.encode("ascii")
    else:
        fast = _orjson_canonical(payload)
        # (a NUL character anywhere in the payload is written as \\u0000 in the canonical form)
        if fast is None or (b"\\" in fast[1] and b"\\u0000" in fast[1]):
            return None
        parsed, canonical = fast
        payload_json = canonical.decode("utf-8")
    status_id, error = _shape_error(event.event_type, parsed)
    row = _row(event, canonical, payload_json, status_id, error, False, None)
    return row, (parsed if isinstance(parsed, dict) else None)


def normalise(event: RawEvent) -> RawRow:
    """Turn a received event into a storable row; never raises on bad input."""
    return normalise_parsed(event)[0]


def normalise_parsed(event: RawEvent) -> tuple[RawRow, Any]:
    """:func:`normalise`, and the payload's parsed JSON object when the row stores exactly that object (its
    canonical form), else ``None`` (for the consent pass, which then need not parse it again)."""
    if event.payload is not None:
        common = _normalise_common(event, event.payload)
        if common is not None:
            return common
    return _normalise_general(event)


def _normalise_general(event: RawEvent) -> tuple[RawRow, Any]:
    """:func:`normalise_parsed` for any event (the cases :func:`_normalise_common` leaves, and all it takes)."""
    error: str | None = None
    escaped = False
    raw_b64: str | None = None
    payload_json: str | None = None
    status_id: str | None = None
    canonical: bytes = event.payload or b""
    parsed: Any = None

    if event.payload is None:
        error = f"{event.event_type} event without a payload"
    else:
        try:
            text = event.payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = event.payload.decode("utf-8", "replace")
            error = f"payload is not valid UTF-8 (byte {exc.start})"
            escaped = True
        canonical_text: str | None = None
        parsed_ok = False
        if not escaped:
            if event.event_type in ID_EVENTS and _STATUS_ID.match(text.strip()):
                parsed, parsed_ok = text.strip(), True  # Mastodon sends the bare id: keep it as text
            else:
                try:
                    parsed, canonical_text = _parse_json(event.payload, text)
                    parsed_ok = True
                except (ValueError, RecursionError) as exc:
                    error = f"payload is not valid JSON ({str(exc).split(':')[0]})"
                    escaped = True
        if parsed_ok:
            status_id = _shape_error(event.event_type, parsed)[0]
        if parsed_ok and "\\u0000" in text and _NUL_ESCAPE.search(text) is not None:
            error = "payload contains \\u0000, which PostgreSQL jsonb cannot store"
            escaped = True
            parsed_ok = False
        if parsed_ok:
            if canonical_text is None:  # the bare id of a delete
                canonical_text = _canonical(parsed)
            try:
                canonical = canonical_text.encode("utf-8")
            except UnicodeEncodeError:
                error = "payload contains an unpaired UTF-16 surrogate, which PostgreSQL jsonb cannot store"
                escaped = True
                parsed_ok = False
        if parsed_ok:
            payload_json = canonical_text
            status_id, error = _shape_error(event.event_type, parsed)
        else:
            # Store the received text as a JSON string; the exact bytes go alongside, base64-encoded.
            payload_json = json.dumps(text.replace("\x00", "\\u0000"), ensure_ascii=False)
            raw_b64 = base64.b64encode(event.payload).decode("ascii")
            if event.event_type not in KNOWN_EVENTS:
                error = f"{error}; unknown event type {event.event_type!r}"

    row = _row(event, canonical, payload_json, status_id, error, escaped, raw_b64)
    return row, (parsed if raw_b64 is None and payload_json is not None and isinstance(parsed, dict) else None)


def _row(event: RawEvent, canonical: bytes, payload_json: str | None, status_id: str | None, error: str | None,
         escaped: bool, raw_b64: str | None) -> RawRow:
    """The row of a normalised event (both roads): the source checked, the time in UTC, the event id from the
    canonical payload (or the id a redacted payload carries)."""
    if event.source not in SOURCES:
        error = (error + "; " if error else "") + f"unknown source {event.source!r}"
    received_at = event.received_at if event.received_at.tzinfo else event.received_at.replace(tzinfo=timezone.utc)
    event_id = event_id_for(event.instance_id, event.source, event.event_type, canonical)
    if payload_json is not None and raw_b64 is None and REDACTED_KEY in payload_json:
        kept = json.loads(payload_json)
        if isinstance(kept, dict) and isinstance(kept.get(REDACTED_KEY), str) and _EVENT_ID.match(kept[REDACTED_KEY]):
            event_id = kept[REDACTED_KEY]
    return RawRow(
        event_id=event_id,
        instance_id=event.instance_id, instance_url=event.instance_url, stream=event.stream,
        source=event.source, event_type=event.event_type, received_at=received_at.astimezone(timezone.utc),
        payload_json=payload_json, payload_status_id=status_id, payload_error=error,
        payload_escaped=escaped, payload_raw_base64=raw_b64,
    )
