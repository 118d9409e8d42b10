"""Consent and privacy at load time: which accounts opted out of being analysed, and what of them is kept.

An account opts out by any signal the ``privacy:`` configuration honours (each one a switch, all on by
default): ``indexable: false`` (Mastodon 4.3+), ``noindex: true``, ``discoverable: false``, or one of the
community tags ``#nobot``, ``#noindex``, ``#nosearch`` in its bio (``note``) or profile fields. A Status that
is not ``public`` is treated the same way whoever wrote it.

For such a Status the stored payload keeps ids, times, counts, tags, mentions, media types, the link card's URL
and the account's id, username and acct, so every aggregate still counts it; it loses the text: ``content``,
``spoiler_text``, ``text``, the card's text, the poll, media descriptions and URLs, and the account's display
name, bio and fields. The reason
is recorded in the payload (``forkalytics_redaction``) and, per account, in ``raw.account_consent`` (the
current consent of every author, read by dbt for ``marts.accounts`` and for redacting incremental tables).

The loader runs a :class:`ConsentPass` over every batch (on the Status ``normalise_parsed`` has just parsed,
so nothing is parsed twice), which also redacts the batch's Statuses that a delete of the same batch removes,
and :func:`after_load` once the batch is committed: it records the authors' consent, redacts the earlier raw
payloads of an account that has just opted out, and redacts the raw payloads of earlier statuses the batch
deletes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from extract.events import ID_EVENTS, REDACTED_KEY, STATUS_EVENTS, RawRow, dumps_sorted, loads_exact

REASON_KEY = "forkalytics_redaction"
OPTED_OUT = "opted_out"
COLLECTED = "collected"
COMMUNITY_TAGS = ("nobot", "noindex", "nosearch")
_TAG_IN_HTML = re.compile(r"#(?:\s|<[^>]*>)*(nobot|noindex|nosearch)\b", re.IGNORECASE)

CONSENT_DDL = """
create table if not exists raw.account_consent (
    instance_id varchar not null,
    account_id varchar not null,
    acct varchar,
    consent_status varchar not null,
    consent_reason varchar,
    consent_checked_at timestamp with time zone not null,
    opted_out_since timestamp with time zone,
    primary key (instance_id, account_id)
)
"""
STATUS_INDEX_DDL = ("create index if not exists stream_events_instance_status_idx "
                    "on raw.stream_events (instance_id, payload_status_id)")


@dataclass(frozen=True)
class PrivacyPolicy:
    """The ``privacy:`` configuration section: which signals are honoured (all of them by default)."""

    honour_indexable: bool = True
    honour_noindex: bool = True
    honour_discoverable: bool = True
    honour_nobot_tags: bool = True
    public_only: bool = True
    redact_deletes_at_load: bool = True


STRICT = PrivacyPolicy()


def _tag_in(html: Any) -> str | None:
    if not isinstance(html, str):
        return None
    match = _TAG_IN_HTML.search(html)
    return match.group(1).lower() if match else None


def account_opt_out(account: Any, policy: PrivacyPolicy = STRICT) -> str | None:
    """The signal by which ``account`` (an Account entity) opted out, or None when it did not."""
    if not isinstance(account, dict):
        return None
    if policy.honour_indexable and account.get("indexable") is False:
        return "indexable: false"
    if policy.honour_noindex and account.get("noindex") is True:
        return "noindex: true"
    if policy.honour_discoverable and account.get("discoverable") is False:
        return "discoverable: false"
    if policy.honour_nobot_tags:
        tag = _tag_in(account.get("note"))
        if tag:
            return f"#{tag} in note"
        fields = account.get("fields")
        for item in fields if isinstance(fields, list) else ():
            if isinstance(item, dict):
                tag = _tag_in(item.get("name")) or _tag_in(item.get("value"))
                if tag:
                    return f"#{tag} in profile fields"
    return None


def redact_account(account: dict[str, Any]) -> dict[str, Any]:
    """An Account with its display name, bio and profile fields removed (id, username, acct, counts kept)."""
    kept = dict(account)
    for key in ("display_name", "note"):
        if key in kept:
            kept[key] = ""
    if "fields" in kept:
        kept["fields"] = []
    if isinstance(kept.get("source"), dict):
        kept["source"] = {k: v for k, v in kept["source"].items() if k not in ("note", "fields")}
    return kept


# Statuses carried inside a Status, by someone else: the boosted post, and the quoted post (Mastodon 4.5+).
_NESTED = (("reblog", "boost of"), ("quote", "quote of"))


def _nested_status(status: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = status.get(key)
    if key == "quote":
        value = value.get("quoted_status") if isinstance(value, dict) else None
    return value if isinstance(value, dict) else None


def _with_nested(status: dict[str, Any], key: str, nested: dict[str, Any]) -> dict[str, Any]:
    nested = {k: v for k, v in nested.items() if k != REDACTED_KEY}
    return {**status, key: nested if key == "reblog" else {**status["quote"], "quoted_status": nested}}


_UNSET: Any = object()


def _redact_status(status: dict[str, Any], event_id: str, policy: PrivacyPolicy, force: str | None,
                   author_signal: str | None = _UNSET) -> tuple[dict[str, Any], str | None, str | None]:
    """(payload, reason the payload was redacted or None, the author's opt-out signal or None). A boosted or
    quoted Status inside it is redacted by its own author's consent, or with the outer Status.
    ``author_signal`` is ``account_opt_out`` of the Status's account, when the caller has it already."""
    from orchestration.retention import redact_status

    if author_signal is _UNSET:
        author_signal = account_opt_out(status.get("account"), policy)
    reason = force or author_signal
    visibility = status.get("visibility")
    if reason is None and policy.public_only and isinstance(visibility, str) and visibility != "public":
        reason = f"visibility: {visibility}"
    nested_results = []
    for key, label in _NESTED:
        nested = _nested_status(status, key)
        if nested is not None:
            nested_payload, nested_reason, _ = _redact_status(nested, event_id, policy, reason)
            if nested_reason is not None:
                nested_results.append((key, label, nested_payload, nested_reason))
    if reason is None and not nested_results:
        return status, None, None
    result = dict(status)
    if reason is not None:
        result = redact_status(result, event_id)
        card = status.get("card")
        if isinstance(card, dict) and card.get("url"):  # the shared link still counts in trending links
            result["card"] = {"url": card["url"], "type": card.get("type")}
        if isinstance(result.get("account"), dict):
            result["account"] = redact_account(result["account"])
        result[REASON_KEY] = reason
    for key, label, nested_payload, nested_reason in nested_results:
        result = _with_nested(result, key, nested_payload)
        result.setdefault(REASON_KEY, f"{label}: {nested_reason}")
    result[REDACTED_KEY] = event_id
    return result, result[REASON_KEY], author_signal


@dataclass
class ConsentObservation:
    """The consent of one author as seen in one event."""

    instance_id: str
    account_id: str
    acct: str | None
    reason: str | None
    checked_at: datetime


@dataclass
class BatchConsent:
    """What a :class:`ConsentPass` found in a batch, for :func:`after_load`."""

    accounts: dict[tuple[str, str], ConsentObservation]
    deleted: dict[str, set[str]]  # instance id -> status ids deleted in this batch
    redacted_rows: int = 0


class ConsentPass:
    """The consent pass over one batch, a row at a time (the loader hands each row over with the Status it
    has just parsed, so nothing is parsed twice and a batch's parsed Statuses are never all held at once).

    Redacts the payloads of opted-out accounts and non-public statuses and notes each author's consent. The
    event id stays the one of the payload as received (a redelivery is still recognised); the redacted
    payload carries it under ``forkalytics_redacted``. An author whose latest event in the batch opted out
    has its other events of the batch redacted too, with that reason (in :meth:`finish`)."""

    def __init__(self, policy: PrivacyPolicy = STRICT) -> None:
        self.policy = policy
        self.consent = BatchConsent(accounts={}, deleted={})
        self.rows: list[RawRow] = []
        self._by_author: dict[tuple[str, str], list[int]] = {}
        self._originals: dict[int, dict[str, Any]] = {}  # index -> the Status as received, for redacted rows
        self._reasons: dict[int, str] = {}

    def add(self, row: RawRow, parsed: Any) -> None:
        """Take the next row of the batch, with its payload as ``normalise_parsed`` parsed it (None when the
        row does not store a parsed JSON object)."""
        index = len(self.rows)
        self.rows.append(row)
        if row.payload_json is None or row.payload_raw_base64 is not None or row.payload_status_id is None:
            return
        if row.event_type in ID_EVENTS:
            if row.event_type == "delete":
                self.consent.deleted.setdefault(row.instance_id, set()).add(row.payload_status_id)
            return
        if row.event_type not in STATUS_EVENTS or row.payload_error is not None or not isinstance(parsed, dict):
            return
        account = parsed.get("account")
        signal = account_opt_out(account, self.policy)
        if isinstance(account, dict) and account.get("id") is not None:
            self._note(index, row, str(account["id"]), account.get("acct"), signal)
        self._redact(index, parsed, None, signal)

    def _note(self, index: int, row: RawRow, account_id: str, acct: Any, reason: str | None) -> None:
        _observe(self.consent, row, account_id, acct, reason)
        self._by_author.setdefault((row.instance_id, account_id), []).append(index)

    def _redact(self, index: int, status: dict[str, Any], force: str | None, author_signal: Any = _UNSET) -> None:
        row = self.rows[index]
        redacted, reason, _ = _redact_status(status, row.event_id, self.policy, force, author_signal)
        if reason is None or self._reasons.get(index) == reason:
            return
        if index not in self._originals:
            self.consent.redacted_rows += 1
        self._originals.setdefault(index, status)
        self._reasons[index] = reason
        self.rows[index] = replace(row, payload_json=dumps_sorted(redacted))

    def finish(self) -> tuple[list[RawRow], BatchConsent]:
        """The batch's rows as they are to be stored, and what ``after_load`` needs to know."""
        for key, seen in self.consent.accounts.items():
            if seen.reason is None:
                continue
            for index in self._by_author.get(key, ()):
                status = self._originals.get(index)
                if status is None:
                    status = loads_exact(self.rows[index].payload_json)
                self._redact(index, status, seen.reason)
        if self.policy.redact_deletes_at_load and self.consent.deleted:
            self.consent.redacted_rows += _redact_deleted_in_batch(self.rows, self.consent.deleted)
        return self.rows, self.consent


def _redact_deleted_in_batch(rows: list[RawRow], deleted: dict[str, set[str]]) -> int:
    """Redact, before they are stored, the Statuses of the batch that a ``delete`` of the same batch removes
    (in place; the same redaction :func:`redact_deleted_statuses` applies to rows stored earlier)."""
    from orchestration.retention import redacted_payload

    changed = 0
    for index, row in enumerate(rows):
        if (row.event_type not in STATUS_EVENTS or row.payload_status_id is None or row.payload_json is None
                or row.payload_status_id not in deleted.get(row.instance_id, ())):
            continue
        payload = loads_exact(row.payload_json)
        if isinstance(payload, dict) and REDACTED_KEY in payload:
            continue  # already stored without its text (an opted-out author, or redacted before)
        redacted = redacted_payload(payload, row.payload_escaped, row.event_id)
        rows[index] = replace(row, payload_json=dumps_sorted(redacted), payload_escaped=False,
                              payload_raw_base64=None)
        changed += 1
    return changed


def _observe(consent: BatchConsent, row: RawRow, account_id: str, acct: Any, reason: str | None) -> None:
    key = (row.instance_id, account_id)
    seen = consent.accounts.get(key)
    if seen is None or row.received_at >= seen.checked_at:
        consent.accounts[key] = ConsentObservation(row.instance_id, account_id,
                                                   acct if isinstance(acct, str) else None, reason, row.received_at)


def record_consent(cur, consent: BatchConsent) -> list[tuple[str, str, str]]:
    """Upsert the authors' consent (an older observation never overrides a newer one); return the accounts
    that opted out now while they were collected before: their earlier payloads need redacting. (An account
    seen for the first time has no earlier rows outside this batch, which its :class:`ConsentPass` redacted.)"""
    if not consent.accounts:
        return []
    from psycopg2.extras import execute_values

    values = [(seen.instance_id, seen.account_id, seen.acct, OPTED_OUT if seen.reason else COLLECTED, seen.reason,
               seen.checked_at) for seen in consent.accounts.values()]
    values.sort(key=lambda value: (value[0], value[1]))  # one lock order for concurrent loaders (no deadlock)
    rows = execute_values(cur, """
        with incoming (instance_id, account_id, acct, consent_status, consent_reason, consent_checked_at) as (
            values %s
        ),
        previous as (
            select incoming.instance_id, incoming.account_id, known.consent_status as previous_status
            from incoming
            left join raw.account_consent as known
              on known.instance_id = incoming.instance_id and known.account_id = incoming.account_id
        ),
        upserted as (
            insert into raw.account_consent as known
                (instance_id, account_id, acct, consent_status, consent_reason, consent_checked_at, opted_out_since)
            select instance_id, account_id, acct, consent_status, consent_reason,
                   cast(consent_checked_at as timestamptz),
                   case when consent_status = 'opted_out' then cast(consent_checked_at as timestamptz) end
            from incoming
            on conflict (instance_id, account_id) do update set
                acct = coalesce(excluded.acct, known.acct),
                consent_status = excluded.consent_status,
                consent_reason = excluded.consent_reason,
                consent_checked_at = excluded.consent_checked_at,
                opted_out_since = case
                    when excluded.consent_status <> 'opted_out' then null
                    when known.consent_status = 'opted_out' then known.opted_out_since
                    else excluded.consent_checked_at
                end
            where known.consent_checked_at <= excluded.consent_checked_at
            returning known.instance_id, known.account_id, known.consent_status, known.consent_reason
        )
        select upserted.instance_id, upserted.account_id, upserted.consent_reason
        from upserted
        join previous using (instance_id, account_id)
        where upserted.consent_status = 'opted_out' and previous.previous_status = 'collected'
    """, values, fetch=True, page_size=1000)
    return [(instance_id, account_id, reason) for instance_id, account_id, reason in rows]


def _update(cur, changes: list[tuple[tuple, dict[str, Any]]]) -> None:
    """Store redacted payloads: ``changes`` holds ((instance id, status id, event id, batch key, received at),
    new payload) per row, written in one statement per page (the status index finds each row); the rare row
    without a status id (a Status of the wrong shape) is updated by itself."""
    from psycopg2.extras import execute_values

    by_status = [(*key, json.dumps(new, ensure_ascii=False)) for key, new in changes if key[1] is not None]
    if by_status:
        execute_values(cur, """
            update raw.stream_events as stored
            set payload = cast(changed.payload as jsonb), payload_escaped = false, payload_raw_base64 = null
            from (values %s) as changed (instance_id, status_id, event_id, batch_key, received_at, payload)
            where stored.instance_id = changed.instance_id and stored.payload_status_id = changed.status_id
              and stored.event_id = changed.event_id and stored.batch_key = changed.batch_key
              and stored.received_at = cast(changed.received_at as timestamptz)
        """, by_status, page_size=1000)
    for (instance_id, status_id, event_id, batch_key, received_at), new in changes:
        if status_id is None:
            cur.execute("""
                update raw.stream_events
                set payload = %s::jsonb, payload_escaped = false, payload_raw_base64 = null
                where instance_id = %s and payload_status_id is null and event_id = %s and batch_key = %s
                  and received_at = %s
            """, (json.dumps(new, ensure_ascii=False), instance_id, event_id, batch_key, received_at))


def redact_account_history(cur, instance_id: str, opted_out: dict[str, str], policy: PrivacyPolicy) -> int:
    """Redact every earlier raw payload of the accounts (id -> reason) that have just opted out, and the
    boosted and quoted copies of their posts; returns how many rows changed."""
    accounts = sorted(opted_out)
    cur.execute("""
        select event_id, batch_key, received_at, payload, payload_status_id
        from raw.stream_events
        where instance_id = %s and event_type in %s and jsonb_typeof(payload) = 'object'
          and not payload ? %s
          and (payload -> 'account' ->> 'id' = any(%s) or payload -> 'reblog' -> 'account' ->> 'id' = any(%s)
               or payload -> 'quote' -> 'quoted_status' -> 'account' ->> 'id' = any(%s))
    """, (instance_id, tuple(sorted(STATUS_EVENTS)), REDACTED_KEY, accounts, accounts, accounts))
    changes: list[tuple[tuple, dict[str, Any]]] = []
    for event_id, batch_key, received_at, payload, status_id in cur.fetchall():
        author = payload.get("account") if isinstance(payload.get("account"), dict) else {}
        reason = opted_out.get(str(author.get("id")))
        if reason is not None:
            new, _, _ = _redact_status(payload, event_id, policy, reason)
        else:  # a boost or quote of an opted-out account's post: its text goes, the sharer's own stays
            new = dict(payload)
            for key, label in _NESTED:
                nested = _nested_status(payload, key)
                nested_author = nested.get("account") if nested is not None else None
                nested_reason = opted_out.get(str(nested_author.get("id"))) if isinstance(nested_author, dict) \
                    else None
                if nested_reason is not None:
                    redacted, _, _ = _redact_status(nested, event_id, policy, nested_reason)
                    new = _with_nested(new, key, redacted)
                    new.setdefault(REASON_KEY, f"{label}: {redacted.get(REASON_KEY)}")
            new[REDACTED_KEY] = event_id
        changes.append(((instance_id, status_id, event_id, batch_key, received_at), new))
    _update(cur, changes)
    return len(changes)


def redact_deleted_statuses(cur, instance_id: str, status_ids: set[str]) -> int:
    """Redact the stored raw payloads of statuses a ``delete`` of this batch removed (the same redaction as
    ``forkalytics retention``: text, card, poll and media descriptions go; ids, times and counts stay)."""
    from orchestration.retention import redacted_payload

    cur.execute("""
        select event_id, batch_key, received_at, payload, payload_escaped, payload_status_id
        from raw.stream_events
        where instance_id = %s and payload_status_id = any(%s) and event_type in %s
          and not (jsonb_typeof(payload) = 'object' and payload ? %s)
    """, (instance_id, sorted(status_ids), tuple(sorted(STATUS_EVENTS)), REDACTED_KEY))
    rows = cur.fetchall()
    _update(cur, [((instance_id, status_id, event_id, batch_key, received_at),
                   redacted_payload(payload, escaped, event_id))
                  for event_id, batch_key, received_at, payload, escaped, status_id in rows])
    return len(rows)


def after_load(cur, consent: BatchConsent, policy: PrivacyPolicy = STRICT) -> int:
    """After a batch is committed: record consent, redact opted-out accounts' history and deleted statuses.
    Returns how many earlier raw rows were redacted."""
    changed = 0
    transitions: dict[str, dict[str, str]] = {}
    for instance_id, account_id, reason in record_consent(cur, consent):
        transitions.setdefault(instance_id, {})[account_id] = reason
    for instance_id, opted_out in transitions.items():
        changed += redact_account_history(cur, instance_id, opted_out, policy)
    if policy.redact_deletes_at_load:
        for instance_id, status_ids in consent.deleted.items():
            changed += redact_deleted_statuses(cur, instance_id, status_ids)
    return changed
