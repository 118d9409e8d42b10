"""The data dictionary of the marts (docs/data-dictionary.md), generated from dbt's own artifacts.

``dbt docs generate`` writes ``manifest.json`` (models, descriptions, declared types, tests) and
``catalog.json`` (the types PostgreSQL reports for the built relations); :func:`render` turns them into one
Markdown page: every mart, grouped by folder, with its description, key, tests and a table of columns with
types, descriptions and column tests. Marts added in any folder under ``models/marts/`` are picked up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestration.dbt_runner import REPO_ROOT, dbt_executable, run_dbt

MARTS_PATH = "dbt_project/models/marts/"
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "data-dictionary.md"
FOLDER_TITLES = {"": "Core marts (the seed's data model)", "engagement": "Engagement", "trending": "Trending",
                 "enrichment": "Enrichment", "dashboard": "Dashboard"}


def _one_line(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip().replace("|", "\\|")


def _folder(node: dict[str, Any]) -> str:
    rest = node["original_file_path"][len(MARTS_PATH):]
    return rest.rsplit("/", 1)[0] if "/" in rest else ""


def _test_label(test: dict[str, Any], nodes: dict[str, Any]) -> str:
    meta = test.get("test_metadata") or {}
    name = meta.get("name") or test["name"]
    kwargs = meta.get("kwargs") or {}
    if name == "relationships":
        parent = kwargs.get("to", "")
        match = re.search(r"ref\(['\"](\w+)['\"]\)", parent)
        return f"relationships → {match.group(1) if match else parent}.{kwargs.get('field', '')}"
    if name == "composite_relationships":
        match = re.search(r"ref\(['\"](\w+)['\"]\)", str(kwargs.get("to", "")))
        target = match.group(1) if match else "?"
        return f"relationships ({', '.join(kwargs.get('columns', []))}) → {target}"
    if name == "accepted_values":
        return "accepted values: " + ", ".join(str(v) for v in kwargs.get("values", []))
    if name == "unique_combination":
        return f"unique ({', '.join(kwargs.get('columns', []))})"
    if name in ("scd2_no_overlap", "scd2_no_gap", "scd2_one_current", "scd2_contiguous_seq"):
        return f"{name} per ({', '.join(kwargs.get('entity', []))})"
    if name == "expression_is_true":
        return f"expression: `{kwargs.get('expression', '')}`"
    return name


def _key(node: dict[str, Any], tests: list[dict[str, Any]]) -> str:
    for test in tests:
        meta = test.get("test_metadata") or {}
        if meta.get("name") == "unique_combination":
            return "(" + ", ".join(meta.get("kwargs", {}).get("columns", [])) + ")"
    for test in tests:
        if (test.get("test_metadata") or {}).get("name") == "unique" and test.get("column_name"):
            return test["column_name"]
    return "—"


def render(manifest: dict[str, Any], catalog: dict[str, Any] | None = None) -> str:
    """The Markdown data dictionary of every mart in ``manifest`` (types from ``catalog`` where undeclared)."""
    nodes = manifest["nodes"]
    marts = sorted((n for n in nodes.values() if n["resource_type"] == "model"
                    and n["original_file_path"].startswith(MARTS_PATH)),
                   key=lambda n: (_folder(n) != "", _folder(n), n["name"]))
    tests_by_node: dict[str, list[dict[str, Any]]] = {}
    for test in nodes.values():
        if test["resource_type"] == "test" and test.get("attached_node"):
            tests_by_node.setdefault(test["attached_node"], []).append(test)
    catalog_nodes = (catalog or {}).get("nodes", {})

    lines = [
        "# Data dictionary: the marts",
        "",
        "Generated from dbt's manifest and catalog by `make docs` (`forkalytics docs`); do not edit by hand.",
        "Every mart lives in the `marts` schema of the warehouse. Keys are instance-scoped: a post is",
        "`(post_id, instance_id)`. Contracts are enforced on marts, so the column names and types below are",
        "what BI tools see. Browse the same documentation with lineage graphs: `dbt docs serve` (see README).",
        "",
    ]
    folders: list[str] = []
    for node in marts:
        if _folder(node) not in folders:
            folders.append(_folder(node))
    lines.append("| Mart | Folder | Key | Description |")
    lines.append("|---|---|---|---|")
    for node in marts:
        tests = tests_by_node.get(node["unique_id"], [])
        summary = _one_line(node["description"]).split(". ")[0].rstrip(".")
        lines.append(f"| [`{node['name']}`](#{node['name']}) | {_folder(node) or 'core'} | "
                     f"`{_key(node, tests)}` | {summary}. |")
    lines.append("")

    for folder in folders:
        lines += [f"## {FOLDER_TITLES.get(folder, folder.title())}", ""]
        for node in (n for n in marts if _folder(n) == folder):
            uid = node["unique_id"]
            tests = sorted(tests_by_node.get(uid, []), key=lambda t: t["name"])
            config = node.get("config", {})
            contract = (config.get("contract") or {}).get("enforced")
            lines += [
                f"### {node['name']}",
                "",
                _one_line(node["description"]) or "_No description._",
                "",
                f"- Table: `marts.{node.get('alias') or node['name']}` ({config.get('materialized', '?')}"
                f"{', contract enforced' if contract else ''})",
                f"- Key: `{_key(node, tests)}`",
            ]
            model_tests = [_test_label(t, nodes) for t in tests if not t.get("column_name")]
            if model_tests:
                lines.append("- Tests: " + "; ".join(model_tests))
            lines += ["", "| Column | Type | Description | Tests |", "|---|---|---|---|"]
            catalog_columns = {name.lower(): col for name, col in
                               (catalog_nodes.get(uid, {}).get("columns") or {}).items()}
            for name, column in node["columns"].items():
                data_type = column.get("data_type") or (catalog_columns.get(name.lower()) or {}).get("type") or ""
                column_tests = [_test_label(t, nodes) for t in tests if t.get("column_name") == name]
                lines.append(f"| `{name}` | {data_type} | {_one_line(column.get('description'))} | "
                             f"{_one_line('; '.join(column_tests))} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def generate(dsn: str, state_dir: Path, output: Path = DEFAULT_OUTPUT, *,
             say: Callable[[str], None] = print) -> Path:
    """``dbt docs generate`` against the warehouse at ``dsn``, then write the Markdown to ``output``."""
    from orchestration.errors import UserError

    result = run_dbt(["docs", "generate"], dsn, state_dir=state_dir, quiet=True)
    say(result.summary)
    target = Path(state_dir).resolve() / "dbt" / "target"
    if not result.success or not (target / "manifest.json").exists():
        raise UserError(f"dbt docs generate failed, so the data dictionary was not written (log: {result.log_path}).")
    manifest = json.loads((target / "manifest.json").read_text())
    catalog_path = target / "catalog.json"
    catalog = json.loads(catalog_path.read_text()) if catalog_path.exists() else None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(manifest, catalog))
    marts = sum(1 for line in output.read_text().splitlines() if line.startswith("### "))
    say(f"wrote {output} ({marts} marts); to browse them with lineage graphs: {dbt_executable()} docs serve "
        f"--profiles-dir {target.parent} --project-dir {REPO_ROOT} --target-path {target}")
    return output
