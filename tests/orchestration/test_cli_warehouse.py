"""The command line against a real embedded server, and against an external one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def test_db_start_status_url_stop(tmp_path):
    env = {**os.environ, "FORKALYTICS_PG_DATA": str(tmp_path / "wh"), "FORKALYTICS_PG_PORT": str(_free_port())}
    env.pop("FORKALYTICS_DATABASE_URL", None)
    try:
        started = _cli("db", "start", env=env, cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        again = _cli("db", "start", env=env, cwd=tmp_path)  # reused, not started twice
        assert again.returncode == 0 and again.stdout == started.stdout

        url = _cli("db", "url", env=env, cwd=tmp_path).stdout.strip()
        assert url.startswith("postgresql://") and url.endswith("/forkalytics")
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select string_agg(schema_name, ',' order by schema_name) from information_schema.schemata "
                        "where schema_name in ('raw','enrichment','staging','intermediate','marts','snapshots')")
            assert cur.fetchone()[0] == "enrichment,intermediate,marts,raw,snapshots,staging"
            cur.execute("select count(*) from raw.stream_events")
            assert cur.fetchone()[0] == 0
            # initialised for a workstation warehouse (orchestration/warehouse.py, docs/decisions.md)
            cur.execute("select current_setting('wal_level'), current_setting('data_checksums')")
            assert cur.fetchone() == ("minimal", "off")
        psql = subprocess.run(["psql", url, "-tAc", "select 41 + 1"], capture_output=True, text=True)
        if psql.returncode == 0:  # psql is optional on the machine; the DSN must work where it exists
            assert psql.stdout.strip() == "42"

        status = _cli("db", "status", env=env, cwd=tmp_path)
        assert status.returncode == 0 and "running" in status.stdout
    finally:
        stopped = _cli("db", "stop", env=env, cwd=tmp_path)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    status = _cli("db", "status", env=env, cwd=tmp_path)
    assert status.returncode == 3 and "stopped" in status.stdout


def test_external_server_is_used_when_configured(tmp_path, warehouse):
    env = {**os.environ, "FORKALYTICS_DATABASE_URL": warehouse.dsn, "FORKALYTICS_PG_DATA": str(tmp_path / "none")}
    result = _cli("db", "start", env=env, cwd=tmp_path)
    assert result.returncode == 0 and "external" in result.stdout
    assert not (tmp_path / "none").exists()  # nothing embedded was created
    assert _cli("db", "url", env=env, cwd=tmp_path).stdout.strip() == warehouse.dsn


def test_unreachable_external_server_is_one_sentence(tmp_path):
    env = {**os.environ, "FORKALYTICS_DATABASE_URL": f"postgresql://u:secretpw@127.0.0.1:{_free_port()}/x"}
    result = _cli("db", "start", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("forkalytics: Cannot connect to the warehouse")
    assert "secretpw" not in result.stderr and "Traceback" not in result.stderr
