"""Single statuses, the batch endpoint, edit history and growing counts."""

from __future__ import annotations

import json

import pytest
import requests
from mastodon import MastodonAPIError, MastodonNotFoundError

AUTH = {"Authorization": "Bearer sim-token"}


@pytest.fixture
def busy(make_sim):
    sim = make_sim(seed=21)
    sim.emit(300)
    return sim


def test_status_matches_ground_truth(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    live = [s for s in truth.statuses.values() if not s.deleted]
    sample = live[::25]
    for expected in sample:
        response = requests.get(f"{busy.url}/api/v1/statuses/{expected.id}", headers=AUTH, timeout=5)
        assert response.status_code == 200
        assert response.json() == expected.status
    fetched = api.status(sample[0].id)
    assert str(fetched.id) == sample[0].id and fetched.uri == sample[0].status["uri"]


def test_deleted_and_unknown_statuses_are_404(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    deleted = next(s for s in truth.statuses.values() if s.deleted)
    never = next(e for e in truth.events if e.event == "delete" and not e.known_status)
    for status_id in (deleted.id, never.status_id, "12345"):
        response = requests.get(f"{busy.url}/api/v1/statuses/{status_id}", headers=AUTH, timeout=5)
        assert response.status_code == 404 and response.json() == {"error": "Record not found"}
        assert requests.get(f"{busy.url}/api/v1/statuses/{status_id}/history", headers=AUTH,
                            timeout=5).status_code == 404
    with pytest.raises(MastodonNotFoundError):
        api.status(deleted.id)


def test_batch_endpoint(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    live = [s.id for s in truth.statuses.values() if not s.deleted]
    deleted = [s.id for s in truth.statuses.values() if s.deleted]
    wanted = live[:18] + deleted[:1] + ["99"]
    got = api.statuses(wanted)
    assert [str(s.id) for s in got] == live[:18], "missing ids are silently omitted, order kept"
    too_many = requests.get(f"{busy.url}/api/v1/statuses", params={"id[]": live[:21]}, headers=AUTH, timeout=5)
    assert too_many.status_code == 422 and "error" in too_many.json()
    with pytest.raises(MastodonAPIError):
        api.statuses(live[:21])
    exactly = requests.get(f"{busy.url}/api/v1/statuses", params={"id[]": live[:20]}, headers=AUTH, timeout=5)
    assert exactly.status_code == 200 and len(exactly.json()) == 20


def test_batch_endpoint_missing_before_4_3(make_sim, make_client):
    sim = make_sim(batch_statuses_endpoint=False, version="4.2.10")
    sim.emit(10)
    status_id = next(iter(sim.ground_truth().statuses))
    response = requests.get(f"{sim.url}/api/v1/statuses", params={"id[]": [status_id]}, headers=AUTH, timeout=5)
    assert response.status_code == 404
    with pytest.raises(MastodonNotFoundError):
        make_client(sim).statuses([status_id])
    assert requests.get(f"{sim.url}/api/v1/statuses/{status_id}", headers=AUTH, timeout=5).status_code == 200


def test_history_has_one_entry_per_version(busy, make_client):
    api = make_client(busy)
    truth = busy.ground_truth()
    edited = [s for s in truth.statuses.values() if len(s.versions) > 1 and not s.deleted]
    assert edited
    assert any(len(s.versions) > 2 for s in truth.statuses.values()), "some statuses are edited twice"
    for status in edited:
        history = api.status_history(status.id)
        assert len(history) == len(status.versions)
        assert [h.content for h in history] == [v["content"] for v in status.versions]
        assert history[-1].content == status.status["content"]
        raw = requests.get(f"{busy.url}/api/v1/statuses/{status.id}/history", headers=AUTH, timeout=5).json()
        assert set(raw[0]) == {"content", "spoiler_text", "sensitive", "created_at", "account", "poll",
                               "media_attachments", "emojis"}
        assert raw[0]["created_at"] == status.status["created_at"]
        assert raw[-1]["created_at"] == status.status["edited_at"]
    never_edited = next(s for s in truth.statuses.values() if len(s.versions) == 1 and not s.deleted)
    assert len(api.status_history(never_edited.id)) == 1


def test_edit_events_carry_the_new_version(busy):
    truth = busy.ground_truth()
    for event in truth.events_of("status.update"):
        payload = json.loads(event.data)
        assert payload["edited_at"] is not None
        versions = truth.status(event.status_id).versions
        assert payload["content"] in [v["content"] for v in versions[1:]]


def test_counts_grow_for_statuses_fetched_later(busy):
    truth = busy.ground_truth()
    first_events = {}
    for event in truth.events_of("update"):
        first_events.setdefault(event.status_id, event)
    grew = 0
    for status_id, event in first_events.items():
        status = truth.statuses[status_id]
        if status.deleted:
            continue
        at_publish = json.loads(event.data)
        now = status.status
        for key in ("favourites_count", "reblogs_count", "replies_count"):
            assert now[key] >= at_publish[key]
        if now["favourites_count"] > at_publish["favourites_count"]:
            grew += 1
    assert grew > 20
    busy.emit(100)
    later = busy.ground_truth()
    assert sum(later.statuses[i].status["favourites_count"] for i in first_events if not later.statuses[i].deleted) \
        >= sum(truth.statuses[i].status["favourites_count"] for i in first_events if not later.statuses[i].deleted)
