"""REST timelines: paging, Link headers, filters, late remote posts with lower ids."""

from __future__ import annotations

import re

import pytest
import requests

AUTH = {"Authorization": "Bearer sim-token"}


def public_ids(truth, *, local=None):
    ids = [int(s.id) for s in truth.statuses.values() if s.on_public_timeline and not s.deleted
           and (local is None or s.local == local)]
    return sorted(ids, reverse=True)


@pytest.fixture
def busy(make_sim):
    sim = make_sim(seed=11)
    sim.emit(250)
    return sim


def test_link_header_format(busy):
    response = requests.get(f"{busy.url}/api/v1/timelines/public?local=true&limit=5", headers=AUTH, timeout=5)
    page = response.json()
    assert len(page) == 5
    base = f"{busy.url}/api/v1/timelines/public"
    assert response.headers["Link"] == (
        f'<{base}?limit=5&local=true&max_id={page[-1]["id"]}>; rel="next", '
        f'<{base}?limit=5&local=true&min_id={page[0]["id"]}>; rel="prev"'
    )
    nothing = requests.get(f"{base}?min_id={page[0]['id']}&local=true", headers=AUTH, timeout=5)
    assert nothing.json() == [] and "Link" not in nothing.headers


def test_paging_backwards_with_fetch_next_walks_everything(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    seen = []
    page = api.timeline_public(limit=40)
    while page:
        seen.extend(int(s.id) for s in page)
        page = api.fetch_next(page)
    assert seen == public_ids(truth)
    assert len(seen) > 100


def test_min_id_pages_forward_newest_first(busy, make_client):
    api = make_client(busy)
    expected = public_ids(busy.ground_truth())
    oldest = expected[-1]
    page = api.timeline_public(min_id=oldest, limit=10)
    ids = [int(s.id) for s in page]
    assert ids == sorted(expected[-11:-1], reverse=True), "the 10 statuses right after min_id, newest first"
    forward = []
    cursor = api.timeline_public(min_id=oldest, limit=40)
    while cursor:
        forward.extend(int(s.id) for s in cursor)
        cursor = api.fetch_previous(cursor)
    assert sorted(forward, reverse=True) == expected[:-1]


def test_max_id_since_id_and_limits(busy):
    expected = public_ids(busy.ground_truth())
    url = f"{busy.url}/api/v1/timelines/public"
    default = requests.get(url, headers=AUTH, timeout=5).json()
    assert len(default) == 20
    capped = requests.get(url, params={"limit": 200}, headers=AUTH, timeout=5).json()
    assert len(capped) == 40
    window = requests.get(url, params={"max_id": expected[5], "since_id": expected[12]}, headers=AUTH,
                          timeout=5).json()
    assert [int(s["id"]) for s in window] == expected[6:12]


def test_local_remote_and_media_filters(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    local = api.timeline_public(local=True, limit=40)
    assert [int(s.id) for s in local] == public_ids(truth, local=True)[:40]
    assert all("@" not in s.account.acct for s in local)
    remote = api.timeline_public(remote=True, limit=40)
    assert remote and all("@" in s.account.acct for s in remote)
    media = api.timeline_public(only_media=True, limit=40)
    assert media and all(s.media_attachments for s in media)
    raw = requests.get(f"{busy.url}/api/v1/timelines/public", params={"only_media": "1", "remote": "1"},
                       headers=AUTH, timeout=5)
    assert raw.json() and "&only_media=1&remote=1" in raw.headers["Link"]


def test_deleted_statuses_never_appear_following_link_urls(busy):
    truth = busy.ground_truth()
    deleted = {s.id for s in truth.statuses.values() if s.deleted}
    assert deleted
    seen = []
    url = f"{busy.url}/api/v1/timelines/public?limit=40"
    while url:
        response = requests.get(url, headers=AUTH, timeout=5)
        seen.extend(s["id"] for s in response.json())
        links = requests.utils.parse_header_links(response.headers.get("Link", ""))
        url = next((link["url"] for link in links if link.get("rel") == "next"), None)
    assert not set(seen) & deleted
    assert [int(i) for i in seen] == public_ids(truth)


def test_tag_timeline(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    counts = {}
    for status in truth.statuses.values():
        if not status.deleted:
            for tag in status.tags:
                counts[tag] = counts.get(tag, 0) + 1
    tag = max(counts, key=counts.get)
    got = []
    page = api.timeline_hashtag(tag, limit=5)
    while page:
        got.extend(str(s.id) for s in page)
        page = api.fetch_next(page)
    expected = sorted((s.id for s in truth.statuses.values() if tag in s.tags and not s.deleted),
                      key=int, reverse=True)
    assert got == expected
    upper = requests.get(f"{busy.url}/api/v1/timelines/tag/{tag.upper()}", headers=AUTH, timeout=5)
    assert [s["id"] for s in upper.json()] == expected[:20]


def test_unicode_tag_timeline(make_sim):
    sim = make_sim(seed=5)
    sim.emit(600)
    truth = sim.ground_truth()
    name = "café"
    expected = sorted((s.id for s in truth.statuses.values() if name in s.tags and not s.deleted),
                      key=int, reverse=True)
    assert expected
    response = requests.get(f"{sim.url}/api/v1/timelines/tag/Caf%C3%A9", headers=AUTH, timeout=5)
    assert [s["id"] for s in response.json()] == expected[:20]
    assert response.json()[0]["tags"][0]["url"].startswith("https://sim-one.example/tags/")


def test_late_remote_posts_get_ids_below_ones_already_served(busy, make_client):
    truth = busy.ground_truth()
    backdated = [s for s in truth.statuses.values() if s.backdated_seconds >= 60]
    assert backdated and all(not s.local for s in backdated)
    share = len(backdated) / sum(1 for s in truth.statuses.values() if not s.local)
    assert 0.03 < share < 0.3, "a minority of remote posts arrive late"
    lower_than_earlier = 0
    for late in backdated:
        earlier = [s for s in truth.statuses.values() if s.published_seq < late.published_seq]
        if earlier and int(late.id) < max(int(s.id) for s in earlier):
            lower_than_earlier += 1
        created_ms = int(late.id) >> 16
        assert abs(created_ms - late.created_at.timestamp() * 1000) < 1
        assert (late.published_at - late.created_at).total_seconds() == pytest.approx(late.backdated_seconds,
                                                                                      abs=0.002)
    assert lower_than_earlier >= 0.8 * len(backdated)
    # A client that saw everything up to some id and catches up forward from it (min_id paging)
    # misses the late posts published afterwards with lower ids.
    api = make_client(busy)
    first_seq = min(b.published_seq for b in backdated if b.on_public_timeline)
    newest_seen = max(int(s.id) for s in truth.statuses.values() if s.published_seq < first_seq)
    caught_up = set()
    page = api.timeline_public(min_id=newest_seen, limit=40)
    while page:
        caught_up.update(str(s.id) for s in page)
        page = api.fetch_previous(page)
    late = [b for b in backdated if b.on_public_timeline and not b.deleted and b.published_seq >= first_seq]
    missed = [b for b in late if b.id not in caught_up]
    assert missed and all(int(b.id) < newest_seen for b in missed)


def test_disabled_and_authenticated_public_timeline(make_sim):
    disabled = make_sim(live_feeds="disabled")
    disabled.emit(30)
    response = requests.get(f"{disabled.url}/api/v1/timelines/public", headers=AUTH, timeout=5)
    assert response.status_code == 200 and response.json() == []
    assert requests.get(f"{disabled.url}/api/v1/timelines/tag/photography", headers=AUTH,
                        timeout=5).status_code == 200
    gated = make_sim(live_feeds="authenticated")
    gated.emit(30)
    anonymous = requests.get(f"{gated.url}/api/v1/timelines/public", timeout=5)
    assert anonymous.status_code == 422
    assert anonymous.json() == {"error": "This method requires an authenticated user"}
    assert requests.get(f"{gated.url}/api/v1/timelines/public", headers=AUTH, timeout=5).json()


def test_link_header_parses_with_requests(busy):
    response = requests.get(f"{busy.url}/api/v1/timelines/tag/photography?limit=2&any[]=books",
                            headers=AUTH, timeout=5)
    links = {link["rel"]: link["url"] for link in requests.utils.parse_header_links(response.headers["Link"])}
    assert re.search(r"[?&]max_id=\d+", links["next"]) and "any%5B%5D=books" in links["next"]
    following = requests.get(links["next"], headers=AUTH, timeout=5)
    assert following.status_code == 200
