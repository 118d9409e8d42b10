"""Consent at load time, through the real loader into PostgreSQL: each signal and switch, non-public statuses,
boosts, deletes of stored posts, redelivery of a redacted event, and the ``privacy:`` configuration."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from extract.consent import STRICT, PrivacyPolicy, account_opt_out
from extract.events import REDACTED_KEY, RawEvent
from extract.raw_loader import RawLoader
from extract.simulator import SimulatedInstance, SimulatorConfig
from orchestration.config import parse_config
from orchestration.errors import ConfigError
from tests.helpers import query
from tests.privacy.privacy_helpers import NOBOT_HTML, SIGNALS

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def statuses() -> list[dict]:
    """Real Status JSON from the simulator: new posts of consenting accounts, with their text."""
    sim = SimulatedInstance(SimulatorConfig(seed=5, events_per_second=0, domain="sim-load.example")).start()
    try:
        for account_id in sim.directory.posters_local + sim.directory.posters_remote:
            sim.update_account(account_id, signature="zqx{id}q")
        events = sim.emit(60)
    finally:
        sim.stop()
    return [json.loads(e.data) for e in events if e.event == "update"]


def _event(status: dict | str, kind: str = "update", minutes: int = 0) -> RawEvent:
    data = status if isinstance(status, str) else json.dumps(status)
    return RawEvent("sim-load.example", "https://sim-load.example", "public", "stream", kind,
                    T0 + timedelta(minutes=minutes), data.encode())


def _stored(warehouse, status_id: str) -> list[dict]:
    rows = query(warehouse, "select payload from raw.stream_events where payload_status_id = %s "
                            "and event_type = 'update' order by received_at", (status_id,))
    return [row[0] for row in rows]


def test_each_signal_is_recognised_and_each_switch_turns_it_off():
    base = {"id": "1", "indexable": True, "discoverable": True, "note": "<p>hi</p>", "fields": []}
    for changes, reason in SIGNALS.values():
        account = {**base, **changes}
        assert account_opt_out(account) == reason
    assert account_opt_out(base) is None
    assert account_opt_out({**base, "note": "<p>#nobots are fun; no index here</p>"}) is None
    assert account_opt_out({**base, "discoverable": None}) is None  # not set is not an opt-out
    relaxed = PrivacyPolicy(honour_indexable=False, honour_noindex=False, honour_discoverable=False,
                            honour_nobot_tags=False)
    for changes, _ in SIGNALS.values():
        assert account_opt_out({**base, **changes}, relaxed) is None
    assert account_opt_out({**base, "note": NOBOT_HTML}, PrivacyPolicy(honour_indexable=False)) == "#nobot in note"


def test_opted_out_and_non_public_statuses_are_stored_without_text(warehouse, tmp_path, statuses):
    opted, unlisted, public = statuses[0], statuses[1], statuses[2]
    opted = {**opted, "account": {**opted["account"], "indexable": False}}
    unlisted = {**unlisted, "visibility": "unlisted"}
    loader = RawLoader(warehouse.dsn, tmp_path)
    report = loader.load_batch("t:1", [_event(opted), _event(unlisted), _event(public)])
    assert report.rows == 3 and report.privacy_redacted == 2

    for status, reason in ((opted, "indexable: false"), (unlisted, "visibility: unlisted")):
        (stored,) = _stored(warehouse, status["id"])
        assert stored["forkalytics_redaction"] == reason
        assert stored["content"] == "" and stored["spoiler_text"] == "" and stored["poll"] is None
        card = status.get("card")
        assert stored["card"] == ({"url": card["url"], "type": card.get("type")} if card else None)
        assert stored["account"]["display_name"] == "" and stored["account"]["note"] == ""
        assert stored["account"]["fields"] == []
        assert all(m.get("description") is None for m in stored["media_attachments"])
        # what aggregates need stays
        for key in ("id", "created_at", "uri", "replies_count", "reblogs_count", "favourites_count", "tags",
                    "language", "visibility"):
            assert stored[key] == status[key], key
        assert stored["account"]["id"] == status["account"]["id"]
        assert stored["account"]["acct"] == status["account"]["acct"]
        assert "zqx" not in json.dumps(stored)
    (kept,) = _stored(warehouse, public["id"])
    assert kept["content"] == public["content"] and "zqx" in kept["content"]

    # A redelivery of the same event (another batch) is recognised as the same event.
    loader.load_batch("t:2", [_event(opted)])
    ids = query(warehouse, "select count(distinct event_id), count(*) from raw.stream_events "
                           "where payload_status_id = %s", (opted["id"],))
    assert ids == [(1, 2)]
    consent = query(warehouse, "select account_id, consent_status, consent_reason from raw.account_consent "
                               "where account_id = any(%s)",
                    ([opted["account"]["id"], public["account"]["id"]],))
    assert set(consent) >= {(opted["account"]["id"], "opted_out", "indexable: false"),
                            (public["account"]["id"], "collected", None)}


def test_the_policy_decides(warehouse, tmp_path, statuses):
    unlisted = {**statuses[3], "visibility": "unlisted"}
    hidden = {**statuses[4], "account": {**statuses[4]["account"], "discoverable": False}}
    RawLoader(warehouse.dsn, tmp_path, PrivacyPolicy(public_only=False, honour_discoverable=False)).load_batch(
        "t:1", [_event(unlisted), _event(hidden)])
    assert "zqx" in _stored(warehouse, unlisted["id"])[0]["content"]
    assert "zqx" in _stored(warehouse, hidden["id"])[0]["content"]


def test_a_boost_of_an_opted_out_post_keeps_the_booster(warehouse, tmp_path, statuses):
    original = {**statuses[5], "account": {**statuses[5]["account"], "note": NOBOT_HTML}}
    booster = statuses[6]["account"]
    boost = {**statuses[6], "id": "999000111", "content": "", "reblog": original, "account": booster}
    RawLoader(warehouse.dsn, tmp_path).load_batch("t:1", [_event(boost)])
    (stored,) = _stored(warehouse, boost["id"])
    assert stored["reblog"]["content"] == "" and stored["reblog"]["account"]["note"] == ""
    assert stored["account"]["display_name"] == booster["display_name"]
    assert stored["forkalytics_redaction"] == "boost of: #nobot in note"


def test_an_opt_out_or_a_delete_redacts_what_was_stored_before(warehouse, tmp_path, statuses):
    loader = RawLoader(warehouse.dsn, tmp_path)
    first, second, other = statuses[7], statuses[8], statuses[9]
    loader.load_batch("t:1", [_event(first), _event(second), _event(other)])
    assert all("zqx" in _stored(warehouse, s["id"])[0]["content"] for s in (first, second, other))

    # The author of `first` opts out (seen in a later post); `second` is deleted.
    later = {**statuses[10], "account": {**first["account"], "indexable": False}}
    report = loader.load_batch("t:2", [_event(later, minutes=5), _event(second["id"], "delete", minutes=6)])
    assert report.privacy_redacted >= 3  # the new post, the earlier post, the deleted one
    (earlier,) = _stored(warehouse, first["id"])
    assert earlier["content"] == "" and earlier["forkalytics_redaction"] == "indexable: false"
    assert earlier[REDACTED_KEY] and earlier["favourites_count"] == first["favourites_count"]
    (deleted,) = _stored(warehouse, second["id"])
    assert deleted["content"] == "" and deleted["id"] == second["id"]
    assert deleted["account"]["acct"] == second["account"]["acct"]
    assert "zqx" in _stored(warehouse, other["id"])[0]["content"]
    if first["account"]["id"] != other["account"]["id"]:
        assert query(warehouse, "select consent_status, opted_out_since from raw.account_consent "
                                "where account_id = %s", (first["account"]["id"],)) == [
            ("opted_out", T0 + timedelta(minutes=5))]


def test_privacy_configuration():
    assert parse_config({}).privacy == STRICT
    assert parse_config({"privacy": {"public_only": False}}).privacy.public_only is False
    with pytest.raises(ConfigError, match="privacy.honour_noindex must be true or false"):
        parse_config({"privacy": {"honour_noindex": "yes"}})
    with pytest.raises(ConfigError, match="Unknown setting 'honor_noindex' in privacy"):
        parse_config({"privacy": {"honor_noindex": True}})


def test_a_shared_link_of_an_opted_out_post_still_counts_without_its_text(warehouse, tmp_path, statuses):
    carded = next(s for s in statuses if isinstance(s.get("card"), dict) and s["card"].get("title"))
    opted = {**carded, "account": {**carded["account"], "discoverable": False}}
    RawLoader(warehouse.dsn, tmp_path).load_batch("t:1", [_event(opted)])
    (stored,) = _stored(warehouse, opted["id"])
    assert stored["card"] == {"url": carded["card"]["url"], "type": carded["card"]["type"]}


def test_a_delete_in_the_same_batch_is_redacted_before_it_is_stored(warehouse, tmp_path, statuses):
    created, kept = statuses[11], statuses[12]
    report = RawLoader(warehouse.dsn, tmp_path).load_batch(
        "t:1", [_event(created), _event(kept, minutes=1), _event(created["id"], "delete", minutes=2)])
    assert report.rows == 3 and report.privacy_redacted == 1
    (stored,) = _stored(warehouse, created["id"])
    assert stored["content"] == "" and stored[REDACTED_KEY] and stored["id"] == created["id"]
    assert stored["favourites_count"] == created["favourites_count"]
    assert "zqx" in _stored(warehouse, kept["id"])[0]["content"]


def test_an_opt_out_later_in_the_batch_redacts_the_authors_earlier_posts_with_its_reason(warehouse, tmp_path,
                                                                                        statuses):
    author = statuses[13]["account"]
    early = {**statuses[13], "visibility": "unlisted"}
    public = {**statuses[14], "account": author}
    late = {**statuses[15], "account": {**author, "noindex": True}}
    other = next(s for s in statuses[16:] if s["account"]["id"] != author["id"])
    report = RawLoader(warehouse.dsn, tmp_path).load_batch(
        "t:1", [_event(early), _event(public, minutes=1), _event(late, minutes=2), _event(other, minutes=3)])
    assert report.privacy_redacted == 3
    for status in (early, public, late):
        (stored,) = _stored(warehouse, status["id"])
        assert stored["content"] == "" and stored["forkalytics_redaction"] == "noindex: true"
    assert "zqx" in _stored(warehouse, other["id"])[0]["content"]


def test_a_quote_of_an_opted_out_post_loses_the_quoted_text_and_keeps_its_own(warehouse, tmp_path, statuses):
    original = {**statuses[20], "account": {**statuses[20]["account"], "indexable": False}}
    quoting = {**statuses[21], "id": "999000222", "quote": {"state": "accepted", "quoted_status": original}}
    RawLoader(warehouse.dsn, tmp_path).load_batch("t:1", [_event(quoting)])
    (stored,) = _stored(warehouse, quoting["id"])
    assert stored["quote"]["quoted_status"]["content"] == "" and stored["quote"]["state"] == "accepted"
    assert stored["quote"]["quoted_status"]["account"]["note"] == ""
    assert stored["quote"]["quoted_status"]["id"] == original["id"]
    assert stored["content"] == quoting["content"] and "zqx" in stored["content"]
    assert stored["forkalytics_redaction"] == "quote of: indexable: false"


def test_a_later_opt_out_redacts_earlier_boosts_and_quotes_of_the_account(warehouse, tmp_path, statuses):
    author, sharer = statuses[22], statuses[23]
    if author["account"]["id"] == sharer["account"]["id"]:
        sharer = next(s for s in statuses[24:] if s["account"]["id"] != author["account"]["id"])
    boost = {**sharer, "id": "999000333", "content": "", "reblog": author}
    quoting = {**sharer, "id": "999000444", "quote": {"state": "accepted", "quoted_status": author}}
    loader = RawLoader(warehouse.dsn, tmp_path)
    loader.load_batch("t:1", [_event(author), _event(boost), _event(quoting)])
    assert "zqx" in _stored(warehouse, quoting["id"])[0]["quote"]["quoted_status"]["content"]

    later = {**statuses[25], "id": "999000555", "account": {**author["account"], "discoverable": False}}
    loader.load_batch("t:2", [_event(later, minutes=5)])
    (boosted,) = _stored(warehouse, boost["id"])
    assert boosted["reblog"]["content"] == "" and boosted["forkalytics_redaction"] == "boost of: discoverable: false"
    (quoted,) = _stored(warehouse, quoting["id"])
    assert quoted["quote"]["quoted_status"]["content"] == ""
    assert quoted["forkalytics_redaction"] == "quote of: discoverable: false"
    assert quoted["content"] == sharer["content"] and quoted["account"]["note"] == sharer["account"]["note"]
