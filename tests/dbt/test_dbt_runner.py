"""orchestration/dbt_runner.py: profiles from the DSN, subprocess dbt, summaries, no secrets on disk."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import yaml
from dbt_payloads import RawEvents, prepare_sources
from dbt_scenario import load_first

from orchestration.dbt_runner import mart_row_counts, profile_from_dsn, run_dbt
from orchestration.warehouse import Warehouse


def test_profile_from_dsn_keeps_the_password_out_of_the_file() -> None:
    profile, password = profile_from_dsn("postgresql://analyst:s%40cret@db.example:6543/warehouse")
    output = profile["forkalytics"]["outputs"]["forkalytics_runner"]
    assert (output["host"], output["port"], output["user"], output["dbname"], output["schema"]) == \
        ("db.example", 6543, "analyst", "warehouse", "marts")
    assert password == "s@cret"
    assert "s@cret" not in yaml.safe_dump(profile)


def test_failed_run_is_reported_not_raised(tmp_path: Path) -> None:
    # nothing listens on port 1: dbt fails to connect
    result = run_dbt(["run", "--select", "stg_mastodon__instances"], "postgresql://postgres:pw@127.0.0.1:1/none",
                     state_dir=tmp_path, quiet=True)
    assert not result.success and result.returncode != 0
    assert "failed" in result.summary


def test_redaction_can_be_switched_off_and_secrets_stay_out_of_artifacts(warehouse: Warehouse,
                                                                         tmp_path: Path) -> None:
    conn = warehouse.connect()
    prepare_sources(conn)
    load_first(conn, RawEvents())
    secret_dsn = warehouse.dsn.replace("postgres@", "postgres:Sup3rSecretPw@", 1)
    result = run_dbt(["run", "--select", "+posts"], secret_dsn, state_dir=tmp_path, quiet=True,
                     vars={"redact_deleted_content": False})
    assert result.success, result.output_tail
    assert result.counts == {"pass": 7} and result.failures == []  # staging (2 views) → int → posts
    with conn.cursor() as cur:
        cur.execute("select content_text, is_redacted from marts.posts where post_id = '140'")
        assert cur.fetchone() == ("Secret words", False)
    counts = mart_row_counts(conn)
    assert counts["posts"] == 13 and "stream_events" not in counts  # only +posts was run
    conn.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"Sup3rSecretPw" not in path.read_bytes(), path


def test_mart_row_counts_of_an_empty_marts_schema(warehouse: Warehouse) -> None:
    conn = psycopg2.connect(warehouse.dsn)
    try:
        assert mart_row_counts(conn) == {}
    finally:
        conn.close()
