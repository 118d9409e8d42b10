"""Shared fixtures: one real embedded PostgreSQL server for the whole test session.

Each test that needs a warehouse gets a database of its own on that server (``warehouse`` fixture), so
tests never see each other's rows. Set FORKALYTICS_TEST_DATABASE_URL to run against an external server
instead (its role must be allowed to create databases).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.warehouse import EmbeddedPostgres, Warehouse
from tests.helpers import database_prefix, scratch_warehouse

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DSN (without database) of the session's PostgreSQL server: embedded unless configured."""
    external = os.environ.get("FORKALYTICS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), _free_port())
    server.start()
    try:
        yield server.dsn("postgres")
    finally:
        server.destroy()


@pytest.fixture
def warehouse(pg_server: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A bootstrapped, empty warehouse database of this test's own, dropped afterwards."""
    with scratch_warehouse(pg_server, database_prefix("wh", request.node.name), tmp_path / "unused") as wh:
        yield wh
