"""Generated content: determinism, Mastodon-shaped entities, the event mix, the spike scenario."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter

import pytest
import requests

from extract.simulator import SimulatedInstance, SimulatorConfig

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class FixedClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def offline(**overrides):
    """An instance that is never started: emit() works without a server."""
    return SimulatedInstance(SimulatorConfig(events_per_second=0, **overrides))


@pytest.fixture(scope="module")
def rich():
    sim = offline(seed=99)
    sim.emit(1500)
    return sim.ground_truth()


def normalise(text: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d", "<date>", text)
    text = re.sub(r"/notes/[0-9a-f]+", "/notes/<id>", text)
    ids: dict[str, str] = {}
    return re.sub(r"\d{15,}", lambda m: ids.setdefault(m.group(0), f"<id{len(ids)}>"), text)


def test_same_seed_same_events_with_a_fixed_clock():
    runs = []
    for _ in range(2):
        sim = offline(seed=5, clock=FixedClock())
        sim.emit(200)
        runs.append(sim.ground_truth().to_json())
    assert runs[0] == runs[1]
    other = offline(seed=6, clock=FixedClock())
    other.emit(200)
    assert [e["data"] for e in other.ground_truth().to_json()["events"]] != [e["data"] for e in runs[0]["events"]]


def test_same_seed_same_events_modulo_timestamps():
    datas = []
    for _ in range(2):
        sim = offline(seed=8)
        sim.emit(150)
        truth = sim.ground_truth()
        datas.append([(e.event, normalise(e.data), sorted(e.streams)) for e in truth.events])
    assert datas[0] == datas[1]


def test_event_mix(rich):
    kinds = Counter(e.event for e in rich.events)
    assert 0.7 < kinds["update"] / len(rich.events) < 0.9
    assert kinds["status.update"] > 50 and kinds["delete"] > 50
    unknown = [e for e in rich.events if e.event == "delete" and not e.known_status]
    assert unknown and all(e.status_id not in rich.statuses for e in unknown)
    assert all(e.data == e.status_id for e in rich.events if e.event == "delete")
    deleted = [s for s in rich.statuses.values() if s.deleted]
    assert len(deleted) == kinds["delete"] - len(unknown)
    assert all(s.deleted_at is not None for s in deleted)
    assert [e.seq for e in rich.events] == list(range(1, len(rich.events) + 1))


def test_accounts(rich):
    accounts = list(rich.accounts.values())
    local = [a for a in accounts if "@" not in a["acct"]]
    remote = [a for a in accounts if "@" in a["acct"]]
    assert 40 <= len(local) <= 50 and 60 <= len(remote) <= 75
    assert len({a["acct"].split("@")[1] for a in remote}) == 12
    assert any(a["bot"] for a in accounts)
    for account in accounts:
        assert account["created_at"].endswith("T00:00:00.000Z")
        assert account["last_status_at"] is None or re.match(r"^\d{4}-\d\d-\d\d$", account["last_status_at"])
        assert account["acct"] == account["username"] or account["acct"].startswith(account["username"] + "@")
        assert account["note"].startswith("<p>")
        assert isinstance(account["fields"], list) and isinstance(account["emojis"], list)
    authors = {s.status["account"]["id"] for s in rich.statuses.values()}
    mentioned = {m["id"] for s in rich.statuses.values() for m in s.status["mentions"]}
    assert mentioned - authors, "some mentioned accounts never post"
    assert mentioned <= set(rich.accounts)


def test_status_entities(rich):
    statuses = [s.status for s in rich.statuses.values()]
    for status in statuses:
        assert isinstance(status["id"], str)
        assert int(status["id"]) >> 16 == int(
            dt.datetime.strptime(status["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
            .timestamp() * 1000 + 0.5)
        assert ISO_MS.match(status["created_at"])
        assert status["edited_at"] is None or ISO_MS.match(status["edited_at"])
        assert status["visibility"] == "public" and status["reblog"] is None and status["quote"] is None
        assert status["content"].startswith("<p>") and status["content"].endswith("</p>")
        for key in ("replies_count", "reblogs_count", "favourites_count", "quotes_count"):
            assert isinstance(status[key], int) and status[key] >= 0
        local = "@" not in status["account"]["acct"]
        assert ("application" in status) == local
        if local:
            assert status["uri"] == f"https://sim-one.example/users/{status['account']['username']}/statuses/" \
                                    f"{status['id']}"
        else:
            assert status["id"] not in status["uri"], "remote posts keep their origin's own id"
        assert all(t["name"] == t["name"].lower() for t in status["tags"])
        assert all(set(m) == {"id", "username", "url", "acct"} for m in status["mentions"])
    contents = " ".join(s["content"] for s in statuses)
    assert '<span class="h-card" translate="no"><a href="https://' in contents
    assert 'class="u-url mention">@<span>' in contents
    assert 'class="mention hashtag" rel="tag">#<span>' in contents
    assert '<span class="invisible">https://www.</span><span class="ellipsis">' in contents
    assert "<br>" in contents and "&amp;" in contents and "&#39;" in contents
    assert {s["language"] for s in statuses} >= {"en", "de", "fr", "es", "ja", None}
    assert any(s["spoiler_text"] and s["sensitive"] for s in statuses)
    assert {m["type"] for s in statuses for m in s["media_attachments"]} == {"image", "video", "gifv", "audio"}
    assert all(m["meta"] and "url" in m for s in statuses for m in s["media_attachments"])
    assert any(s["poll"] and len(s["poll"]["options"]) >= 2 for s in statuses)
    assert any(s["card"] and s["card"]["url"] and s["card"]["title"] for s in statuses)
    assert any(s["emojis"] for s in statuses)
    assert any("misskey.example" in s["uri"] and "/notes/" in s["uri"] for s in statuses)


def test_threads_are_several_levels_deep(rich):
    parent = {s.id: s.status["in_reply_to_id"] for s in rich.statuses.values()}

    def depth(status_id):
        level = 0
        while parent.get(status_id):
            status_id = parent[status_id]
            level += 1
        return level

    assert max(depth(i) for i in parent) >= 3
    replies = [s.status for s in rich.statuses.values() if s.status["in_reply_to_id"]]
    assert any(r["in_reply_to_account_id"] == r["account"]["id"] for r in replies)
    to_others = [r for r in replies if r["in_reply_to_account_id"] != r["account"]["id"]]
    assert to_others and all(r["in_reply_to_account_id"] in {m["id"] for m in r["mentions"]} for r in to_others)


def test_versions_and_stream_data_agree(rich):
    for event in rich.events:
        if event.event == "delete":
            continue
        payload = json.loads(event.data)
        truth = rich.statuses[event.status_id]
        assert payload["content"] in [v["content"] for v in truth.versions]
        assert payload["uri"] == truth.status["uri"]


def test_spike_scenario():
    sim = offline(scenario="spike", seed=2, spike_start_event=200, spike_length_events=150)
    sim.emit(500)
    truth = sim.ground_truth()
    by_window = {"before": [], "burst": [], "after": []}
    chatter = {"before": 0, "burst": 0, "after": 0}
    updates = {"before": 0, "burst": 0, "after": 0}
    for event in truth.events_of("update"):
        window = "before" if event.seq < 200 else "burst" if event.seq < 350 else "after"
        status = truth.statuses[event.status_id]
        updates[window] += 1
        if "forkaspike" in status.versions[0]["tags"]:
            by_window[window].append(status.status["account"]["acct"])
        if "dailychatter" in status.versions[0]["tags"]:
            chatter[window] += 1
    assert len(by_window["before"]) <= 4 and len(by_window["after"]) <= 4
    burst = by_window["burst"]
    assert len(burst) >= 40
    assert len(set(burst)) == len(burst), "every spike post comes from a different account"
    domains = {acct.split("@")[1] if "@" in acct else "sim-one.example" for acct in burst}
    assert len(domains) >= 10
    for window in chatter:
        assert 0.1 < chatter[window] / updates[window] < 0.35


def test_ground_truth_json_over_admin_endpoint(make_sim):
    sim = make_sim()
    response = requests.post(f"{sim.url}/_sim/emit?n=40", timeout=5)
    assert response.status_code == 200 and len(response.json()["events"]) == 40
    truth = requests.get(f"{sim.url}/_sim/ground_truth", timeout=5).json()
    local = sim.ground_truth().to_json()
    truth.pop("taken_at"), local.pop("taken_at")
    assert truth == json.loads(json.dumps(local))
    assert set(truth) == {"domain", "seq", "events", "statuses", "accounts"}
    event = truth["events"][0]
    assert set(event) >= {"seq", "event", "data", "status_id", "streams", "emitted_at", "written"}


def test_paced_generator_pause_and_resume(make_sim, wait_until):
    sim = make_sim(events_per_second=50)
    assert wait_until(lambda: sim.status()["seq"] >= 10, timeout=5)
    sim.pause()
    time.sleep(0.1)  # an emit already under way when pausing may still finish
    settled = sim.status()["seq"]
    assert not wait_until(lambda: sim.status()["seq"] > settled, timeout=0.4)
    assert len(sim.emit(3)) == 3, "manual emit works while paused"
    sim.resume()
    mark = sim.status()["seq"]
    assert wait_until(lambda: sim.status()["seq"] >= mark + 5, timeout=5)
