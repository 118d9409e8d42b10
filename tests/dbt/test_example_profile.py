"""`dbt build` from the repository root with the example profile, as the README tells an analyst to run it.

profiles.example.yml is copied into a profiles directory of the test's own and pointed at the test database
through the environment variables it reads (FORKALYTICS_PG_* for the embedded target, the libpq PG* variables
for the external one); dbt runs from the repository root with no --project-dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
from dbt_payloads import RawEvents, prepare_sources
from dbt_scenario import load_first

from orchestration.dbt_runner import REPO_ROOT, dbt_executable
from tests.helpers import query


def profile_environment(dsn: str) -> tuple[str, dict[str, str]]:
    """The example profile's target for ``dsn`` and the variables that point it there."""
    parts = urlsplit(dsn)
    database = unquote(parts.path.lstrip("/"))
    password = unquote(parts.password or "")
    if parts.hostname == "127.0.0.1" and (parts.username or "postgres") == "postgres":
        return "embedded", {"FORKALYTICS_PG_PORT": str(parts.port or 5432), "FORKALYTICS_PG_DATABASE": database,
                            "FORKALYTICS_PG_PASSWORD": password}
    return "external", {"PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432),
                        "PGUSER": unquote(parts.username or ""), "PGPASSWORD": password, "PGDATABASE": database}


def test_example_profile_builds_the_project_from_the_repository_root(warehouse, tmp_path):
    conn = warehouse.connect()
    try:
        prepare_sources(conn)
        load_first(conn, RawEvents())
    finally:
        conn.close()

    example = yaml.safe_load((REPO_ROOT / "profiles.example.yml").read_text())
    assert set(example["forkalytics"]["outputs"]) == {"embedded", "external"}
    profiles_dir = tmp_path / "profiles"
    profiles_dir.mkdir()
    shutil.copy(REPO_ROOT / "profiles.example.yml", profiles_dir / "profiles.yml")
    target, variables = profile_environment(warehouse.dsn)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DBT_", "PG", "FORKALYTICS_PG_"))}
    env.update(variables, DBT_PROFILES_DIR=str(profiles_dir), DBT_TARGET_PATH=str(tmp_path / "target"),
               DBT_LOG_PATH=str(tmp_path / "logs"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")

    completed = subprocess.run([str(dbt_executable()), "build", "--no-version-check", "--target", target],
                               cwd=REPO_ROOT, env=env, text=True, capture_output=True, check=False, timeout=900)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "ERROR=0" in output and "SKIP=0" in output
    assert (Path(tmp_path) / "target" / "run_results.json").exists()
    assert query(warehouse, "select count(*) from marts.posts")[0][0] > 0
    assert query(warehouse, "select count(*) from marts.post_versions")[0][0] > 0
