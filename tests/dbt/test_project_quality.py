"""The dbt project's quality rules (issue 3, "Quality"), checked on the parsed manifest of the core models.

Core models: staging of raw (models/staging/mastodon), intermediate, and the top-level marts. Each is
documented (model and every column), has a primary-key test, marts enforce contracts with typed columns and
are tied to the rest of the marts by relationship tests, SCD2 marts carry the SCD2 invariants, enum columns
have accepted values, and every mart that counts posts says whether deleted posts count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestration.dbt_runner import run_dbt

CORE_DIRS = ("dbt_project/models/staging/mastodon/", "dbt_project/models/intermediate/")
SCD2_TESTS = {"scd2_no_overlap", "scd2_no_gap", "scd2_one_current", "scd2_contiguous_seq", "unique_combination"}
ENUM_COLUMNS = {("posts", "visibility"), ("posts", "deletion_reason"), ("media_attachments", "media_type"),
                ("stream_events", "source"), ("stream_events", "process_outcome"), ("instances", "api_version"),
                ("instances", "live_feeds_local"), ("instances", "live_feeds_remote"),
                ("instances", "hashtag_feeds_local"), ("instances", "hashtag_feeds_remote"),
                ("stg_mastodon__stream_events", "event_source"), ("int_status_deletes", "deletion_reason")}
# Marts with a count of posts (or rows that are posts) and so a statement about deleted posts.
COUNTING_MARTS = {"posts", "accounts", "hashtags", "conversation_threads", "fediverse_posts", "post_hashtags",
                  "post_mentions", "instances"}
UNIT_TESTS = {"html_to_text_reads_like_a_person", "several_edits_between_two_runs_are_all_versions",
              "delete_before_create_keeps_the_post_deleted", "edit_after_delete_does_not_resurrect"}


def is_core(node: dict[str, Any]) -> bool:
    path = node["original_file_path"]
    return path.startswith(CORE_DIRS) or (path.startswith("dbt_project/models/marts/") and path.count("/") == 3)


def is_mart(node: dict[str, Any]) -> bool:
    return node["original_file_path"].startswith("dbt_project/models/marts/")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state_dir = tmp_path_factory.mktemp("parse")
    # `dbt parse` reads the profile but opens no connection.
    result = run_dbt(["parse"], "postgresql://postgres@127.0.0.1:9/unused", state_dir=state_dir, quiet=True)
    assert result.success, result.output_tail
    return json.loads((Path(state_dir) / "dbt" / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model" and is_core(n)}
    assert {"posts", "post_versions", "stream_events", "stg_mastodon__stream_events", "int_post_versions"} <= set(found)
    return found


def attached_tests(manifest: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in manifest["nodes"].values()
            if t["resource_type"] == "test" and t.get("attached_node") == node["unique_id"]]


def kinds_of(tests: list[dict[str, Any]]) -> set[str]:
    return {(t.get("test_metadata") or {}).get("name", "") for t in tests}




def test_every_core_model_and_column_is_documented(models):
    undocumented = [name for name, node in models.items() if not node["description"].strip()]
    undocumented += [f"{name}.{column}" for name, node in models.items()
                     for column, spec in node["columns"].items() if not spec["description"].strip()]
    assert undocumented == []
    assert all(node["columns"] for node in models.values())


def test_every_core_model_has_a_primary_key_test(manifest, models):
    missing = [name for name, node in models.items()
               if not kinds_of(attached_tests(manifest, node)) & {"unique", "unique_combination"}]
    assert missing == []


def test_marts_enforce_contracts_with_typed_columns(models):
    for name, node in models.items():
        assert node["config"]["contract"]["enforced"] is is_mart(node), name
        if is_mart(node):
            untyped = [column for column, spec in node["columns"].items() if not spec.get("data_type")]
            assert untyped == [], name


def test_marts_are_tied_together_by_relationship_tests(manifest, models):
    kinds = ("relationships", "composite_relationships")
    relationship_tests = [t for t in manifest["nodes"].values() if t["resource_type"] == "test"
                          and (t.get("test_metadata") or {}).get("name") in kinds]
    for name, node in models.items():
        if not is_mart(node) or name == "instances":
            continue
        assert any(t.get("attached_node") == node["unique_id"] for t in relationship_tests), name
        parents = {p for t in relationship_tests if t.get("attached_node") == node["unique_id"]
                   for p in t["depends_on"]["nodes"] if p != node["unique_id"]}
        assert parents and all(models[p.split(".")[-1]]["original_file_path"].startswith(
            "dbt_project/models/marts/") for p in parents), name


def test_scd2_marts_carry_the_scd2_invariants(manifest, models):
    for name in ("post_versions", "account_history", "int_post_versions"):
        assert kinds_of(attached_tests(manifest, models[name])) >= SCD2_TESTS, name


def test_enum_columns_have_accepted_values(manifest, models):
    covered = {((t.get("attached_node") or "").split(".")[-1], t.get("column_name")) for t in manifest["nodes"].values()
               if t["resource_type"] == "test" and (t.get("test_metadata") or {}).get("name") == "accepted_values"}
    assert covered >= ENUM_COLUMNS


def test_marts_that_count_posts_say_whether_deleted_posts_count(models):
    for name in COUNTING_MARTS:
        assert "deleted" in models[name]["description"].lower(), name


def test_unit_tests_cover_the_macros_and_the_hard_cases(manifest):
    names = {n["name"] for n in manifest["unit_tests"].values()}
    assert names >= UNIT_TESTS
