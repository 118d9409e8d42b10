"""Rate limiting: headers, 429, per-token budgets, and Mastodon.py waiting it out."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import requests
from mastodon import MastodonRatelimitError

AUTH = {"Authorization": "Bearer sim-token"}
RESET_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_headers_on_every_rest_response(make_sim):
    sim = make_sim(rate_limit=300, rate_window_seconds=300)
    before = time.time()
    responses = [requests.get(f"{sim.url}/api/v1/instance", headers=AUTH, timeout=5) for _ in range(3)]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["299", "298", "297"]
    assert all(r.headers["X-RateLimit-Limit"] == "300" for r in responses)
    reset = responses[0].headers["X-RateLimit-Reset"]
    assert RESET_FORMAT.match(reset)
    reset_at = dt.datetime.strptime(reset, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()
    assert before < reset_at <= before + 300 + 1
    assert reset_at % 300 == pytest.approx(0, abs=1e-3), "windows are aligned like rack-attack's"


def test_429_when_spent_and_budgets_are_per_token(make_sim):
    sim = make_sim(rate_limit=3, rate_window_seconds=3600)
    url = f"{sim.url}/api/v1/timelines/public"
    codes = [requests.get(url, headers=AUTH, timeout=5).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = requests.get(url, headers=AUTH, timeout=5)
    assert limited.json() == {"error": "Too many requests"}
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert RESET_FORMAT.match(limited.headers["X-RateLimit-Reset"])
    assert requests.get(url, timeout=5).status_code == 200, "anonymous requests are counted per IP"
    other = requests.get(url, headers={"Authorization": "Bearer other"}, timeout=5)
    assert other.status_code == 401, "another token has its own budget (and is then refused)"
    assert other.headers["X-RateLimit-Remaining"] == "2"
    assert requests.get(f"{sim.url}/_sim/status", timeout=5).status_code == 200
    assert requests.get(f"{sim.url}/api/v1/streaming/health", timeout=5).status_code == 200


def test_admin_and_streaming_do_not_spend_budget(make_sim, open_raw):
    sim = make_sim(rate_limit=2, rate_window_seconds=3600)
    for _ in range(5):
        assert requests.get(f"{sim.url}/_sim/status", timeout=5).status_code == 200
    stream = open_raw(f"{sim.url}/api/v1/streaming/public")
    assert stream.response.status_code == 200
    response = requests.get(f"{sim.url}/api/v1/instance", headers=AUTH, timeout=5)
    assert response.headers["X-RateLimit-Remaining"] == "1"


def test_mastodon_py_wait_mode_waits_and_succeeds(make_sim, make_client):
    sim = make_sim(rate_limit=3, rate_window_seconds=1.0)
    sim.emit(20)
    api = make_client(sim, ratelimit_method="wait")
    started = time.monotonic()
    results = [api.timeline_public(limit=2) for _ in range(5)]
    elapsed = time.monotonic() - started
    assert all(len(page) == 2 for page in results)
    assert 0.0 < elapsed < 6.0


def test_mastodon_py_throw_mode_raises(make_sim, make_client):
    sim = make_sim(rate_limit=3, rate_window_seconds=3600)
    api = make_client(sim, ratelimit_method="throw")
    api.timeline_public()  # two requests: Mastodon.py first reads /api/v2/instance
    api.timeline_public()
    with pytest.raises(MastodonRatelimitError):
        api.timeline_public()


def test_exhaust_rate_limit_until_window_ends(make_sim, make_client):
    sim = make_sim(rate_limit=100, rate_window_seconds=1.0)
    sim.emit(5)
    end = sim.faults.exhaust_rate_limit()
    response = requests.get(f"{sim.url}/api/v1/timelines/public", headers=AUTH, timeout=5)
    if time.time() < end:
        assert response.status_code == 429
    api = make_client(sim, ratelimit_method="wait")
    assert api.timeline_public(limit=1)
    assert time.time() >= end
