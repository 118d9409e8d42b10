"""``python -m extract.simulator`` in its own process, driven through the admin endpoints."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import pytest
import requests

AUTH = {"Authorization": "Bearer sim-token"}
BANNER = re.compile(r"^Simulated Mastodon instance (\S+) at (http://\S+) \(token: (set|none)\)$")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "extract.simulator", *args], capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def server():
    """Start the CLI on a free port; yields (process, banner match)."""
    processes = []

    def start(*args: str):
        process = subprocess.Popen(
            [sys.executable, "-m", "extract.simulator", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        processes.append(process)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(15)
        assert line, "the simulator printed no banner"
        match = BANNER.match(line[0].strip())
        assert match, line[0]
        return process, match

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_help():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--port", "--domain", "--seed", "--scenario", "--events-per-second", "--heartbeat",
                   "--no-token", "--live-feeds", "--hashtag-feeds", "--rate-limit", "--no-batch-statuses"):
        assert option in result.stdout


def test_bad_option_fails_clearly():
    result = run("--scenario", "nope")
    assert result.returncode != 0 and "invalid choice" in result.stderr


def test_serves_until_sigterm_and_admin_endpoints_work(server):
    process, banner = server("--domain", "cli.example", "--seed", "3", "--events-per-second", "0",
                             "--heartbeat", "0.2", "--scenario", "spike")
    assert banner.group(1) == "cli.example" and banner.group(3) == "set"
    url = banner.group(2)
    assert requests.get(f"{url}/api/v2/instance", headers=AUTH, timeout=5).json()["domain"] == "cli.example"
    stream = requests.get(f"{url}/api/v1/streaming/public", headers=AUTH, stream=True, timeout=5)
    waited = requests.get(f"{url}/_sim/connections", params={"wait": 1, "timeout": 5}, timeout=10).json()
    assert waited["ok"] and waited["connections"][0]["stream"] == "public"
    emitted = requests.post(f"{url}/_sim/emit", params={"n": 25}, timeout=5).json()["events"]
    assert len(emitted) == 25
    truth = requests.get(f"{url}/_sim/ground_truth", timeout=5).json()
    assert [e["seq"] for e in truth["events"]] == list(range(1, 26))
    assert any(e["written"] for e in truth["events"])
    for path, params in [
        ("/_sim/pause", {}),
        ("/_sim/resume", {}),
        ("/_sim/faults/stall", {"seconds": "0.1"}),
        ("/_sim/faults/malformed", {"kind": "bad_json"}),
        ("/_sim/faults/http_errors", {"status": "500", "count": "1", "path_prefix": "/api/v1/timelines"}),
        ("/_sim/faults/clear", {}),
        ("/_sim/faults/drop", {}),
    ]:
        assert requests.post(url + path, params=params, timeout=5).status_code == 200, path
    exhausted = requests.post(f"{url}/_sim/faults/exhaust_rate_limit", timeout=5).json()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", exhausted["until"])
    assert requests.get(f"{url}/api/v1/timelines/public", headers=AUTH, timeout=5).status_code == 429
    assert requests.get(f"{url}/_sim/pause", timeout=5).status_code == 405
    stream.close()
    process.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0


def test_no_token_and_sigint(server):
    process, banner = server("--no-token", "--events-per-second", "20", "--live-feeds", "disabled")
    assert banner.group(3) == "none"
    url = banner.group(2)
    info = requests.get(f"{url}/api/v2/instance", timeout=5).json()
    assert info["configuration"]["timelines_access"]["live_feeds"]["local"] == "disabled"
    stream = requests.get(f"{url}/api/v1/streaming/hashtag?tag=dailychatter", stream=True, timeout=5)
    assert stream.status_code == 200
    stream.close()
    process.send_signal(signal.SIGINT)
    assert process.wait(5) == 0
