"""The data dictionary: every mart of the project, described, keyed and typed, from dbt's own artifacts."""

from __future__ import annotations

import json
import re

import pytest
from dbt_payloads import prepare_sources

from orchestration.data_dictionary import MARTS_PATH, generate, render
from orchestration.dbt_runner import run_dbt


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    state_dir = tmp_path_factory.mktemp("parse")
    result = run_dbt(["parse"], "postgresql://postgres@127.0.0.1:9/unused", state_dir=state_dir, quiet=True)
    assert result.success, result.output_tail
    return json.loads((state_dir / "dbt" / "target" / "manifest.json").read_text())


def marts_of(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["original_file_path"].startswith(MARTS_PATH)]


def section(text: str, name: str) -> str:
    match = re.search(rf"^### {name}\n(.*?)(?=^### |^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no section for {name}"
    return match.group(1)


def test_every_mart_and_column_is_in_the_dictionary(manifest):
    text = render(manifest)
    marts = marts_of(manifest)
    assert len(marts) >= 12
    for node in marts:
        body = section(text, node["name"])
        assert f"`marts.{node['name']}`" in body
        rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", body, re.MULTILINE))
        assert list(rows) == list(node["columns"]), node["name"]
        for name, column in node["columns"].items():
            if column.get("data_type"):
                assert rows[name].strip() == column["data_type"], (node["name"], name)


def test_keys_descriptions_and_tests_are_shown(manifest):
    text = render(manifest)
    posts = section(text, "posts")
    assert "- Key: `(post_id, instance_id)`" in posts and "contract enforced" in posts
    assert "deleted_at is null" in posts  # the description says how to exclude deleted posts
    versions = section(text, "post_versions")
    assert "scd2_no_overlap per (instance_id, post_id)" in versions
    assert re.search(r"^\| `visibility` \| text \| .* \| accepted values: public, unlisted, private, direct \|$",
                     posts, re.MULTILINE)
    assert "relationships → instances.instance_id" in section(text, "accounts")
    assert re.search(r"^\| \[`stream_events`\]\(#stream_events\) \| core \| `event_id` \|", text, re.MULTILINE)


def test_generated_against_the_warehouse_with_catalog_types(warehouse, tmp_path):
    conn = warehouse.connect()
    try:
        prepare_sources(conn)
    finally:
        conn.close()
    messages: list[str] = []
    output = generate(warehouse.dsn, tmp_path / "state", tmp_path / "dictionary.md", say=messages.append)
    text = output.read_text()
    assert text.startswith("# Data dictionary: the marts")
    assert (tmp_path / "state" / "dbt" / "target" / "catalog.json").exists()
    assert any(m.startswith("dbt docs: ok") for m in messages) and any("docs serve" in m for m in messages)
    assert text.count("\n### ") >= 12
