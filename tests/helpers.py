"""Helpers shared by the end-to-end tests: simulated instances, configurations, a streamer in a thread."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from extract.simulator import SimulatedInstance, SimulatorConfig
from orchestration.config import Config, parse_config
from orchestration.streamer import Streamer, StreamRunReport
from orchestration.warehouse import Warehouse, WarehouseSettings

REPO = Path(__file__).resolve().parents[1]


def database_prefix(prefix: str, test_name: str) -> str:
    """A database name prefix that says which test made it: ``prefix`` and the test's name, lower case."""
    return prefix + "_" + re.sub(r"[^a-z0-9]+", "_", test_name.lower())[:30]


def unique_database_name(prefix: str) -> str:
    """A database name no other test uses: ``prefix`` and a random suffix."""
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


@contextmanager
def scratch_warehouse(server_dsn: str, prefix: str, data_dir: Path, **settings: Any) -> Iterator[Warehouse]:
    """A bootstrapped, empty warehouse database of its own on the test server (unique_database_name(prefix)),
    dropped afterwards. ``settings`` are further WarehouseSettings (e.g. partition_raw_by_month)."""
    name = unique_database_name(prefix)
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}"')
        warehouse = Warehouse(WarehouseSettings(url=urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}")),
                                                data_dir=data_dir, **settings))
        warehouse.bootstrap()
        yield warehouse
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


TOKEN_ENV = "FORKALYTICS_TEST_SIM_TOKEN"
TOKEN = "sim-token-for-tests"

FAST_EXTRACT = {
    "batch_max_events": 500,
    "batch_max_seconds": 0.3,
    "heartbeat_timeout_seconds": 1.5,
    "reconnect_initial_seconds": 0.2,
    "reconnect_max_seconds": 1.0,
    "backfill_overlap_seconds": 3600,
    "fsync_interval_seconds": 0.1,
}


def start_simulator(domain: str, seed: int, **overrides: Any) -> SimulatedInstance:
    settings: dict[str, Any] = {"domain": domain, "port": 0, "seed": seed, "events_per_second": 0,
                                "heartbeat_interval": 0.5, "access_token": TOKEN}
    settings.update(overrides)
    sim = SimulatedInstance(SimulatorConfig(**settings))
    sim.start()
    return sim


def make_config(tmp_path: Path, instances: list[tuple[str, list[str]]], **extract: Any) -> Config:
    raw = {
        "state_dir": str(tmp_path / "state"),
        "instances": [{"url": url, "streams": streams, "access_token_env": TOKEN_ENV} for url, streams in instances],
        "extract": {**FAST_EXTRACT, **extract},
    }
    return parse_config(raw, tmp_path / "forkalytics.yml")


def write_config(tmp_path: Path, config: Config, dsn: str) -> Path:
    """The same configuration as a file, for the command line (the DSN goes through the environment)."""
    raw = {
        "state_dir": str(config.state_dir),
        "instances": [{"url": i.url, "streams": list(i.streams), "access_token_env": i.access_token_env}
                      for i in config.instances],
        "extract": {key: getattr(config.extract, key) for key in FAST_EXTRACT},
    }
    path = tmp_path / "forkalytics.yml"
    path.write_text(json.dumps(raw))
    return path


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(interval)


class StreamerThread:
    """``Streamer.run`` on a background thread, stopped on request."""

    def __init__(self, config: Config, warehouse: Warehouse | None) -> None:
        self.messages: list[str] = []
        self.streamer = Streamer(config, warehouse, say=self.messages.append)
        self.report: StreamRunReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.report = self.streamer.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def __enter__(self) -> StreamerThread:
        self._thread.start()
        wait_for(lambda: self.error is not None or (
            self.streamer.workers and all(w.connected.is_set() for w in self.streamer.workers)
            and len(self.streamer.workers) == sum(len(i.streams) for i in self.streamer.instances)),
            what="every stream to connect")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> StreamRunReport:
        self.streamer.stop()
        self._thread.join(timeout=90)
        assert not self._thread.is_alive(), "the streamer did not stop"
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()


def start_streamer_process(config_path: Path, dsn: str, log: Path, *args: str) -> subprocess.Popen:
    """``forkalytics stream`` as a process of its own (so it can be killed), output appended to ``log``."""
    env = {**os.environ, "FORKALYTICS_DATABASE_URL": dsn, TOKEN_ENV: TOKEN}
    handle = open(log, "ab")  # noqa: SIM115 - owned by the child process
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", "--config", str(config_path), "stream", *args],
                            cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)


def spooled_or_loaded(state_dir: Path, warehouse: Warehouse) -> int:
    """Rows in raw.stream_events plus open buffer segments: non-zero once a streamer received something."""
    loaded = query(warehouse, "select count(*) from raw.stream_events")[0][0]
    return loaded + sum(1 for _ in (state_dir / "spool").glob("*.open"))


def query(warehouse: Warehouse, sql: str, params: tuple = ()) -> list[tuple]:
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def version_key(event_type: str, data: str) -> tuple[str, str, str]:
    """(event type, status id, edited_at) of an event's data as the simulator sent it."""
    if event_type == "delete":
        return event_type, data.strip(), ""
    status = json.loads(data)
    return event_type, str(status["id"]), status.get("edited_at") or ""
