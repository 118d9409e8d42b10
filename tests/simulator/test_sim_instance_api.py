"""Instance discovery, authentication and the plain REST surface of the simulated instance."""

from __future__ import annotations

import pytest
import requests
from mastodon import MastodonNotFoundError, MastodonUnauthorizedError

AUTH = {"Authorization": "Bearer sim-token"}


def test_instance_v1_shape(sim):
    response = requests.get(f"{sim.url}/api/v1/instance", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["uri"] == "sim-one.example"
    assert body["version"] == "4.3.2"
    assert body["urls"]["streaming_api"] == sim.url.replace("http://", "ws://")
    assert set(body["stats"]) == {"user_count", "status_count", "domain_count"}
    assert body["stats"]["domain_count"] == 12
    assert body["title"]


def test_instance_v2_through_mastodon_py(sim, api):
    info = api.instance_v2()
    assert info.domain == "sim-one.example"
    assert info.version == "4.3.2"
    assert info.source_url.startswith("https://")
    assert info.configuration.urls.streaming == sim.url.replace("http://", "ws://")
    access = info.configuration.timelines_access
    assert access.live_feeds.local == "public" and access.live_feeds.remote == "public"
    assert access.hashtag_feeds.local == "public"
    assert info.configuration.statuses.max_characters == 500
    assert api.timeline_is_available("public", with_auth=True, fail_hard=True)


def test_instance_reports_configured_feed_access(make_sim, make_client):
    sim = make_sim(live_feeds="disabled", hashtag_feeds="authenticated", version="4.5.0")
    api = make_client(sim)
    info = api.instance_v2()
    assert info.version == "4.5.0"
    assert info.configuration.timelines_access.live_feeds.local == "disabled"
    assert info.configuration.timelines_access.hashtag_feeds.remote == "authenticated"
    assert not api.timeline_is_available("public", with_auth=True, fail_hard=True)
    assert api.timeline_is_available("hashtag", with_auth=True, fail_hard=True)
    assert not make_client(sim, token=None).timeline_is_available("hashtag", fail_hard=True)


def test_verify_credentials(sim, api, make_client):
    me = api.account_verify_credentials()
    assert me.username == "forkalytics" and me.acct == "forkalytics"
    assert me.source is not None
    with pytest.raises(MastodonUnauthorizedError):
        make_client(sim, token=None).account_verify_credentials()


def test_wrong_token_is_rejected_everywhere_over_rest(sim, make_client):
    bad = make_client(sim, token="not-the-token")
    with pytest.raises(MastodonUnauthorizedError) as info:
        bad.timeline_public()
    assert info.value.args[1] == 401  # Mastodon.py drops the message when it expects a list
    for path in ("/api/v1/instance", "/api/v2/instance", "/api/v1/timelines/public", "/api/v1/statuses/1"):
        response = requests.get(sim.url + path, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert response.status_code == 401, path
        assert response.json() == {"error": "The access token is invalid"}


def test_no_token_reads_public_endpoints(sim, make_client):
    sim.emit(10)
    anonymous = make_client(sim, token=None)
    assert anonymous.instance_v2().domain == "sim-one.example"
    assert anonymous.timeline_public(limit=5)


def test_streaming_health_needs_no_auth(sim, api):
    response = requests.get(f"{sim.url}/api/v1/streaming/health", timeout=5)
    assert response.status_code == 200 and response.text == "OK"
    assert api.stream_healthy()


def test_unknown_routes_and_ids(sim, api):
    response = requests.get(f"{sim.url}/api/v1/nothing/here", headers=AUTH, timeout=5)
    assert response.status_code == 404 and response.json() == {"error": "Record not found"}
    with pytest.raises(MastodonNotFoundError):
        api.status(123)


def test_server_speaks_utf8_json_like_rails(sim):
    sim.emit(150)
    response = requests.get(f"{sim.url}/api/v1/timelines/public?limit=40", headers=AUTH, timeout=5)
    raw = response.content
    assert response.headers["Server"] == "Mastodon"
    assert b"\\u003cp\\u003e" in raw, "Rails escapes <, > and & inside JSON strings"
    assert b"<p>" not in raw
    text = raw.decode("utf-8")
    assert "\\u00" not in text.replace("\\u0026", "").replace("\\u003c", "").replace("\\u003e", "")
    assert any(ord(ch) > 127 for ch in text), "non-ASCII is sent as raw UTF-8"


def test_account_endpoint(sim, api):
    sim.emit(5)
    truth = sim.ground_truth()
    account_id = next(iter(truth.statuses.values())).status["account"]["id"]
    account = api.account(account_id)
    assert str(account.id) == account_id
    assert account.acct == truth.accounts[account_id]["acct"]
