"""Shared fixtures: one real embedded PostgreSQL server for the whole test session.

Each test that needs a warehouse gets a database of its own on that server (``warehouse`` fixture), so
tests never see each other's rows. Set FORKALYTICS_TEST_DATABASE_URL to run against an external server
instead (its role must be allowed to create databases).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from orchestration.warehouse import EmbeddedPostgres, Warehouse, WarehouseSettings

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


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
def warehouse(pg_server: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A bootstrapped, empty warehouse database of this test's own, dropped afterwards."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    wh = Warehouse(WarehouseSettings(url=_with_database(pg_server, name), data_dir=tmp_path / "unused"))
    wh.bootstrap()
    try:
        yield wh
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
