"""Fixtures of the enrichment tests: a warehouse with realistic marts, cloned per test.

Building marts takes a dbt run, so it is done once per session into a template database (simulator events
plus hand-written posts, loaded by the real raw loader, built by real dbt); each test then gets its own
copy (``CREATE DATABASE ... TEMPLATE``), which takes a fraction of a second. Tests that exercise the whole
path from an empty warehouse use the ``warehouse`` fixture of tests/conftest.py instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from enrich_data import MARTS_READ, dbt, hand_written_events, load_events, simulator_events

from tests.helpers import database_prefix, scratch_warehouse, unique_database_name


def _with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@dataclass
class MartsDb:
    """A test's own warehouse database with marts built."""

    dsn: str
    state_dir: Path

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def scalar(self, sql: str, params: tuple = ()):
        return self.query(sql, params)[0][0]


def _admin(pg_server: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(pg_server)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def marts_template(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Name of a database holding the test data set with marts built (never used directly)."""
    state_dir = tmp_path_factory.mktemp("enrichment_template")
    with scratch_warehouse(pg_server, "enrichment_template", state_dir / "unused") as warehouse:
        load_events(warehouse.dsn, state_dir, "simulator", simulator_events())
        load_events(warehouse.dsn, state_dir, "hand-written", hand_written_events())
        dbt(["run", *MARTS_READ], warehouse.dsn, state_dir)
        name = urlsplit(warehouse.dsn).path.lstrip("/")
        admin = _admin(pg_server)
        try:
            with admin.cursor() as cur:  # a template database must have no other session
                cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
                            "and pid <> pg_backend_pid()", (name,))
        finally:
            admin.close()
        yield name


@pytest.fixture
def marts_db(pg_server: str, marts_template: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MartsDb]:
    """This test's copy of the template: raw events loaded, marts built, no enrichment yet."""
    name = unique_database_name(database_prefix("copy", request.node.name))
    admin = _admin(pg_server)
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}" template "{marts_template}"')
    try:
        yield MartsDb(_with_database(pg_server, name), tmp_path / "state")
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
