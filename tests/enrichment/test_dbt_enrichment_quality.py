"""The enrichment side of the dbt project: sources with freshness, documented models and columns, primary-key
tests, contracts on the marts, and the seed's edit analysis. Checked on the parsed manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from enrichment.schema import DDL
from orchestration.dbt_runner import run_dbt

ENRICHMENT_DIRS = ("dbt_project/models/staging/enrichment/", "dbt_project/models/marts/enrichment/")
MARTS = {"post_sentiments", "daily_summaries", "hourly_topics", "post_sentiment_changes"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state_dir = tmp_path_factory.mktemp("enrichment_parse")
    result = run_dbt(["parse"], "postgresql://postgres@127.0.0.1:9/unused", state_dir=state_dir, quiet=True)
    assert result.success, result.output_tail
    return json.loads((Path(state_dir) / "dbt" / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {n["name"]: n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["original_file_path"].startswith(ENRICHMENT_DIRS)}
    assert MARTS | {"stg_enrichment__post_sentiments", "stg_enrichment__daily_summaries",
                    "stg_enrichment__hourly_topic_runs", "stg_enrichment__hourly_topics"} == set(found)
    return found


def _tests_of(manifest: dict[str, Any], node: dict[str, Any]) -> set[str]:
    return {(t.get("test_metadata") or {}).get("name", "") for t in manifest["nodes"].values()
            if t["resource_type"] == "test" and t.get("attached_node") == node["unique_id"]}


def test_enrichment_sources_match_the_tables_and_have_freshness(manifest) -> None:
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "enrichment"}
    created = {statement.split("enrichment.")[1].split(" ")[0] for statement in DDL if "create table" in statement}
    assert set(sources) == created
    for name, source in sources.items():
        assert source["schema"] == "enrichment" and source["description"].strip(), name
        if name != "hourly_topics":  # its freshness is that of hourly_topic_runs, written in the same transaction
            assert source["loaded_at_field"] == "last_attempt_at", name
            assert source["freshness"]["warn_after"]["count"] and source["freshness"]["error_after"]["count"], name


def test_every_enrichment_model_and_column_is_documented_with_a_primary_key_test(manifest, models) -> None:
    undocumented = [name for name, node in models.items() if not node["description"].strip()]
    undocumented += [f"{name}.{column}" for name, node in models.items()
                     for column, spec in node["columns"].items() if not spec["description"].strip()]
    assert undocumented == []
    missing_pk = [name for name, node in models.items()
                  if not _tests_of(manifest, node) & {"unique", "unique_combination"}]
    assert missing_pk == []


def test_enrichment_marts_enforce_contracts_and_join_versions(manifest, models) -> None:
    for name in MARTS:
        node = models[name]
        assert node["config"]["contract"]["enforced"] is True, name
        assert [c for c, spec in node["columns"].items() if not spec.get("data_type")] == [], name
    depends = set(models["post_sentiments"]["depends_on"]["nodes"])
    assert {"model.forkalytics.post_versions", "model.forkalytics.posts"} <= depends
    assert "composite_relationships" in _tests_of(manifest, models["post_sentiments"])
    assert "model.forkalytics.post_sentiments" in models["post_sentiment_changes"]["depends_on"]["nodes"]
