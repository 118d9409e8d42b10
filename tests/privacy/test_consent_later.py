"""Consent over time: an account that opts out after its posts were stored, and a post deleted after it was
stored. One cycle later their words are in no text or JSON column of any table (raw, intermediate, marts,
enrichment), while the posts still count."""

from __future__ import annotations

import pytest

from orchestration.cycle import run_cycle
from tests.helpers import TOKEN, TOKEN_ENV, make_config, query, start_simulator
from tests.orchestration.ops_helpers import buffer_events
from tests.privacy.privacy_helpers import POST_SIGNATURE, find_markers, post_marker

pytestmark = pytest.mark.slow


def _cycle(config, warehouse) -> None:
    lines: list[str] = []
    report = run_cycle(config, warehouse, say=lines.append)
    assert report.success, lines


def test_a_later_opt_out_and_a_delete_are_redacted_by_the_next_cycle(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sim = start_simulator("sim-later.example", 73)
    for account_id in sim.directory.posters_local + sim.directory.posters_remote:
        sim.update_account(account_id, signature=POST_SIGNATURE)
    config = make_config(tmp_path, [(sim.url, ["public"])])
    try:
        first = buffer_events(config, sim, 100)
        truth = sim.ground_truth()
        author = {e.status_id: str(truth.statuses[e.status_id].status["account"]["id"])
                  for e in first if e.event in ("update", "status.update")}
        _cycle(config, warehouse)
        before = find_markers(warehouse.dsn)
        stored = {post for post in author if post_marker(post) in before}
        assert stored, "the first cycle keeps the text of consenting accounts"
        # Half of the authors of the first posts opt out now.
        later = set(sorted(set(author.values()))[::2])
        for account_id in later:
            sim.update_account(int(account_id), indexable=False)
        second = buffer_events(config, sim, 160)
        truth = sim.ground_truth()
    finally:
        sim.stop()
    for event in second:
        if event.event in ("update", "status.update"):
            author[event.status_id] = str(truth.statuses[event.status_id].status["account"]["id"])
    _cycle(config, warehouse)

    consent = dict(query(warehouse, "select account_id, consent_status from marts.accounts "
                                    "where account_id = any(%s)", (sorted(later),)))
    seen_again = {author[e.status_id] for e in second if e.event in ("update", "status.update")} & later
    opted = {account for account in later if consent.get(account) == "opted_out"}
    assert seen_again and seen_again <= opted
    earlier_posts = {post for post in stored if author[post] in opted}
    assert earlier_posts, "some opted-out account had text stored before it opted out"

    deleted = {e.status_id for e in second if e.event == "delete"}
    deleted_stored = deleted & stored
    assert deleted_stored, "some post whose text was stored is deleted afterwards"

    after = find_markers(warehouse.dsn)
    leaked = {post_marker(post): after[post_marker(post)] for post in earlier_posts | deleted_stored
              if post_marker(post) in after}
    assert not leaked
    # Everything else is still there (the search finds what is kept) ...
    kept = stored - deleted - {post for post in stored if author[post] in opted}
    assert kept and all(post_marker(post) in after for post in kept)
    # ... and the redacted posts still count.
    counted = {row[0] for row in query(warehouse, "select post_id from marts.posts where post_id = any(%s)",
                                       (sorted(earlier_posts | deleted_stored),))}
    assert counted == earlier_posts | deleted_stored
    deleted_at = query(warehouse, "select count(*) from marts.posts where post_id = any(%s) "
                                  "and deleted_at is not null", (sorted(deleted_stored),))[0][0]
    assert deleted_at == len(deleted_stored)
