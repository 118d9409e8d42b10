"""The BI role reads marts and nothing else, and cannot write."""

from __future__ import annotations

import psycopg2
import pytest

from orchestration.bi_access import grant_bi


def test_bi_role_reads_marts_only(warehouse, monkeypatch):
    role = "bi_" + warehouse.dsn.rsplit("/", 1)[1][-6:]
    monkeypatch.setenv("FORKALYTICS_BI_PASSWORD", "bi-secret")
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("create table marts.before_grant as select 1 as x")
    message = grant_bi(warehouse, role=role)
    assert role in message and "bi-secret" not in message
    grant_bi(warehouse, role=role)  # idempotent
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("create table marts.after_grant as select 2 as x")  # as if dbt built a new mart
        cur.execute("create table enrichment.secret as select 3 as x")

    bi = psycopg2.connect(warehouse.dsn_for_role(role).replace(f"{role}@", f"{role}:bi-secret@"))
    bi.autocommit = True
    try:
        with bi.cursor() as cur:
            cur.execute("select x from marts.before_grant")
            assert cur.fetchone() == (1,)
            cur.execute("select x from marts.after_grant")
            assert cur.fetchone() == (2,)
            for statement in ("select count(*) from raw.stream_events", "select * from enrichment.secret",
                              "insert into marts.after_grant values (9)", "delete from marts.before_grant",
                              "create table marts.mine (x int)", "create table public.mine (x int)",
                              "create schema sneaky"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        bi.close()
        with warehouse.connect() as conn, conn.cursor() as cur:
            cur.execute(f"drop owned by {role}; drop role {role}")
