"""Consent end to end: simulated accounts opt out by each signal; the real streamer, loader, dbt and enrichment
(through an OpenAI-compatible fake that records every request) run one cycle; the opted-out accounts' posts
are counted, and no word of theirs (a marker planted in each post, and in their display names) is in any text
or JSON column of any table of raw, intermediate, marts or enrichment, nor in any request to the LLM."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from enrichment.runner import run_enrichment
from orchestration.config import parse_config
from orchestration.cycle import run_cycle
from tests.enrichment.enrich_fakes import FakeOpenAI
from tests.helpers import FAST_EXTRACT, TOKEN, TOKEN_ENV, query, start_simulator
from tests.orchestration.ops_helpers import buffer_events
from tests.privacy.privacy_helpers import POST_SIGNATURE, SIGNALS, find_markers, post_marker

pytestmark = pytest.mark.slow


def _config(tmp_path, sim_url: str, fake: FakeOpenAI):
    raw = {
        "state_dir": str(tmp_path / "state"),
        "instances": [{"url": sim_url, "streams": ["public"], "access_token_env": TOKEN_ENV}],
        "extract": dict(FAST_EXTRACT),
        "enrichment": {"llm": {"kind": "base_url", "base_url": fake.base_url, "model": "fake-gpt",
                               "backoff_initial_seconds": 0.01, "max_attempts": 2},
                       "sentiment": {"provider": "llm"}, "summaries": {"provider": "llm"},
                       "topics": {"provider": "llm"}},
    }
    return parse_config(raw, tmp_path / "forkalytics.yml")


def _plant(sim) -> dict[str, str | None]:
    """Every poster signs its posts with a marker; posters take the signals in turn (one in seven consents)."""
    directory = sim.directory
    names = list(SIGNALS)
    groups: dict[str, str | None] = {}
    for index, account_id in enumerate(directory.posters_local + directory.posters_remote):
        slot = index % (len(names) + 1)
        signal = names[slot] if slot < len(names) else None
        if signal == "noindex" and account_id not in directory.posters_local:
            signal = None  # Mastodon shows noindex for local accounts only
        changes = dict(SIGNALS[signal][0]) if signal else {}
        changes["display_name"] = f"Zqxname{signal or 'control'}"
        sim.update_account(account_id, signature=POST_SIGNATURE, **changes)
        groups[str(account_id)] = signal
    return groups


def test_opted_out_accounts_are_counted_and_their_text_is_nowhere(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sim = start_simulator("sim-privacy.example", 71)
    groups = _plant(sim)
    with FakeOpenAI() as fake:
        config = _config(tmp_path, sim.url, fake)
        try:
            received = buffer_events(config, sim, 160)
            truth = sim.ground_truth()
        finally:
            sim.stop()
        lines: list[str] = []
        report = run_cycle(config, warehouse, say=lines.append)
        assert report.success, lines
        # Two days on, the day is complete: it is summarised too.
        later = run_enrichment(warehouse.dsn, config.enrichment, say=lines.append,
                               now=datetime.now(timezone.utc) + timedelta(days=2))
        assert later.failures == 0, lines
        requests = [json.dumps(r["body"]) for r in fake.requests]
    assert requests, "the LLM provider was never asked anything"

    status_events = [e for e in received if e.event in ("update", "status.update")]
    author = {e.status_id: str(truth.statuses[e.status_id].status["account"]["id"]) for e in status_events}
    deleted = {e.status_id for e in received if e.event == "delete"}
    opted_posts = {post for post, account in author.items() if groups.get(account)}
    kept_posts = {post for post, account in author.items() if groups.get(account) is None} - deleted
    signals_seen = {groups[author[post]] for post in opted_posts}
    assert signals_seen == set(SIGNALS), f"every signal needs posts in the sample, got {signals_seen}"
    assert kept_posts

    # Counted: every post is in marts.posts, tags and counts included; no text.
    rows = query(warehouse, "select post_id, content_html, content_text, spoiler_text, hashtags::text "
                            "from marts.posts where post_id = any(%s)", (sorted(opted_posts),))
    assert {row[0] for row in rows} == opted_posts
    assert all(not html and not text and not spoiler for _, html, text, spoiler, _ in rows)
    tagged = {post for post in opted_posts - deleted if truth.statuses[post].tags}
    with_tags = {row[0] for row in query(warehouse, "select distinct post_id from marts.post_hashtags "
                                                    "where post_id = any(%s)", (sorted(opted_posts),))}
    assert tagged and tagged <= with_tags
    overview = query(warehouse, "select sum(posts_total) from marts.dashboard_overview")[0][0]
    assert overview == query(warehouse, "select count(*) from marts.posts where deleted_at is null "
                                        "and not is_reblog")[0][0]

    # Which signal applied is recorded per account.
    consent = {row[0]: row[1:] for row in query(
        warehouse, "select account_id, consent_status, consent_reason, consent_checked_at from marts.accounts "
                   "where account_id = any(%s)", (sorted(set(author.values())),))}
    for account in set(author.values()):
        signal = groups[account]
        status, reason, checked_at = consent[account]
        assert checked_at is not None
        if signal:
            assert (status, reason) == ("opted_out", SIGNALS[signal][1]), account
        else:
            assert (status, reason) == ("collected", None), account

    # Their words are nowhere; the control accounts' words are found (the search can fail).
    found = find_markers(warehouse.dsn)
    leaked = {post_marker(post): found[post_marker(post)] for post in opted_posts if post_marker(post) in found}
    assert not leaked
    names = {f"Zqxname{signal}" for signal in SIGNALS}
    assert not names & set(found), {name: found[name] for name in names & set(found)}
    assert "marts.posts.content_text" in found[post_marker(sorted(kept_posts)[0])]
    assert "marts.accounts.display_name" in found["Zqxnamecontrol"]

    # Nothing of theirs reached the LLM provider: not their words, names or handles as authors.
    opted_accts = {truth.statuses[post].status["account"]["acct"] for post in opted_posts}
    sent = "\n".join(requests)
    assert not [post for post in opted_posts if post_marker(post) in sent]
    assert not [name for name in names if name in sent]
    # (a consenting author's post may mention them: that text is the consenting author's)
    leaked_accts = [acct for acct in opted_accts if f'"{acct}"' in sent or f'\\"{acct}\\"' in sent]
    assert not leaked_accts, [sent[max(0, sent.find(acct) - 400):sent.find(acct) + 60] for acct in leaked_accts]
    assert any(post_marker(post) in sent for post in kept_posts)  # the fake does receive texts

    # Summaries and topics never name them either.
    summaries = query(warehouse, "select coalesce(summary_text, '') || input_stats_json::text "
                                 "from enrichment.daily_summaries")
    topics = query(warehouse, "select coalesce(summary, '') || topic from enrichment.hourly_topics")
    assert summaries and "top_posts" in summaries[0][0]
    written = "\n".join(row[0] for row in summaries + topics)
    assert not [acct for acct in opted_accts if f'"{acct}"' in written]
    assert '"author": null' in written  # an opted-out author among the top posts, unnamed

    # Popular-post outputs never name them.
    popular = query(warehouse, "select author_acct, author_display_name, url, content_text "
                               "from marts.dashboard_popular_posts where post_id = any(%s)", (sorted(opted_posts),))
    assert all(value is None for row in popular for value in row)
