"""The benchmark report: targets, verdicts, and the Markdown and JSON files.

The Markdown report replaces only the part of ``docs/benchmarks.md`` between ``<!-- bench:begin -->`` and
``<!-- bench:end -->``; text outside the markers (the analysis of gaps) is kept across runs.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

TARGETS = {
    "ingest_ratio": {"text": "loader ≥ 70% of bare COPY", "min": 0.70},
    "full_build_1m_seconds": {"text": "full dbt build of 1M events < 3 min", "max": 180.0},
    "incremental_growth": {"text": "incremental cycle grows ≤ 30% when history grows tenfold", "max": 0.30},
    "query_median_ms": {"text": "each example query and trending mart < 100 ms median at 1M posts", "max": 100.0},
    "sentiment_posts_per_second": {"text": "offline sentiment ≥ 3,000 posts/s", "min": 3000.0},
    "posts_per_request": {"text": "metric polling ≥ 19 posts refreshed per request", "min": 19.0},
}


def _cycle_seconds(figures: dict[str, Any]) -> float | None:
    load, build = figures.get("incremental_load"), figures.get("incremental_build")
    if not load or not build:
        return None
    return load["seconds"] + build["seconds"]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per target: the measured value, met or not, and at which size it was measured."""
    verdicts: list[dict[str, Any]] = []
    per_size = {int(size): figures for size, figures in results.get("per_size", {}).items()}

    def verdict(key: str, value: float | None, where: str, note: str = "") -> None:
        target = TARGETS[key]
        if value is None:
            met = None
        elif "min" in target:
            met = value >= target["min"]
        else:
            met = value <= target["max"]
        verdicts.append({"target": key, "text": target["text"], "value": value, "met": met, "where": where,
                         "note": note})

    for size, figures in sorted(per_size.items()):
        if "copy" in figures and "ingest" in figures:
            ratio = figures["ingest"]["events_per_second"] / figures["copy"]["events_per_second"]
            figures["ingest_ratio"] = ratio
            verdict("ingest_ratio", ratio, f"{size:,} events")
    built = [size for size, figures in per_size.items() if "full_build" in figures]
    largest = max(built) if built else None
    if largest is not None:
        note = "" if largest >= 1_000_000 else f"measured at {largest:,} events, not 1M"
        verdict("full_build_1m_seconds", per_size[largest]["full_build"]["seconds"], f"{largest:,} events", note)
    cycles = {size: _cycle_seconds(figures) for size, figures in per_size.items()}
    cycles = {size: seconds for size, seconds in cycles.items() if seconds is not None}
    if len(cycles) >= 2:
        small, large = min(cycles), max(cycles)
        growth = cycles[large] / cycles[small] - 1
        results["incremental_growth"] = growth
        note = "" if large >= 10 * small else f"history grew {large / small:.1f}×, not tenfold"
        verdict("incremental_growth", growth, f"{small:,} → {large:,} events", note)
    if largest is not None and "queries" in per_size[largest]:
        queries = per_size[largest]["queries"]
        for name, figure in queries["queries"].items():
            note = "" if queries["posts"] >= 1_000_000 else f"{queries['posts']:,} posts, not 1M"
            verdict("query_median_ms", figure["median_ms"], name, note)
    if results.get("sentiment"):
        verdict("sentiment_posts_per_second", results["sentiment"]["posts_per_second"],
                f"{results['sentiment']['size']:,} events")
    if results.get("polling"):
        verdict("posts_per_request", results["polling"]["posts_per_request"],
                f"{results['polling']['due']:,} due posts")
    return verdicts


def _n(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _mb(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("peak_rss_mb") is None:
        return "–"
    text = f"{figure['peak_rss_mb']:,.0f}"
    if figure.get("server_peak_mb") is not None:
        text += f" / {figure['server_peak_mb']:,.0f}"
    return text


def render_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "## Latest figures",
        "",
        f"Produced by `{results['command']}` (`make bench`) from {results['started_at'][:19]}Z to "
        f"{results['finished_at'][:19]}Z at commit {m.get('commit')}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['os']}; Python {m['python']}, "
        f"dbt-core {m['dbt_core']}, dlt {m['dlt']}. Load average at start {m['load_average_at_start']}, "
        f"at end {m.get('load_average_at_end')} (other work on the machine competes for the same cores).",
        "",
    ]
    for note in results.get("notes", []):
        lines += [f"Note: {note}", ""]
    generated = results.get("generate") or {}
    if generated.get("events"):
        mix = ", ".join(f"{k} {v:,}" for k, v in generated["mix"].items())
        lines += [f"Archive: {generated['events']:,} events ({generated['bytes'] / 2**20:,.0f} MiB; {mix}); "
                  f"mean Status payload {generated['mean_status_payload_bytes']:,} bytes, "
                  f"{generated['hashtag_uses_per_status']} hashtags per status; generated in "
                  f"{generated['seconds']:,.0f} s.", ""]
    lines += ["### Targets", "", "| target | measured | where | verdict |", "|---|---|---|---|"]
    for v in results["verdicts"]:
        verdict = "–" if v["met"] is None else ("met" if v["met"] else "**missed**")
        if v["note"]:
            verdict += f" ({v['note']})"
        value = v["value"]
        shown = "–" if value is None else (f"{value:.0%}" if v["target"] in ("ingest_ratio", "incremental_growth")
                                           else _n(value, 1))
        lines.append(f"| {v['text']} | {shown} | {v['where']} | {verdict} |")
    lines += ["", "### Per size", "",
              "Peak memory: the step's process tree (Python, and dbt under it) / the PostgreSQL server (sum of PSS).",
              "", "| events | step | seconds | rate | peak MB (process / server) |", "|---|---|---|---|---|"]
    for size, f in sorted(results["per_size"].items(), key=lambda item: int(item[0])):
        n = f"{int(size):,}"
        if "ingest" in f:
            lines.append(f"| {n} | load (project loader) | {_n(f['ingest']['seconds'])} | "
                         f"{_n(f['ingest']['events_per_second'], 0)} events/s | {_mb(f['ingest'])} |")
        if "copy" in f:
            lines.append(f"| {n} | bare COPY, same rows and table shape | {_n(f['copy']['seconds'])} | "
                         f"{_n(f['copy']['events_per_second'], 0)} events/s (loader at "
                         f"{f.get('ingest_ratio', 0):.0%}) | {_mb(f['copy'])} |")
        if "full_build" in f:
            lines.append(f"| {n} | dbt build, full | {_n(f['full_build']['seconds'])} | "
                         f"{f['full_build']['summary'].split(': ', 1)[-1].split(' in ')[0]} | "
                         f"{_mb(f['full_build'])} |")
        if "incremental_build" in f and "incremental_load" in f:
            cycle = _cycle_seconds(f)
            lines.append(f"| {n} | incremental cycle: load +{results['increment']:,} | "
                         f"{_n(f['incremental_load']['seconds'])} | "
                         f"{_n(f['incremental_load']['events_per_second'], 0)} events/s | "
                         f"{_mb(f['incremental_load'])} |")
            lines.append(f"| {n} | incremental cycle: dbt build | {_n(f['incremental_build']['seconds'])} | "
                         f"cycle total {_n(cycle)} s | {_mb(f['incremental_build'])} |")
        # before the queries, not a target: every post version's offline sentiment, then the enrichment marts
        if "query_sentiment" in f:
            s = f["query_sentiment"]
            lines.append(f"| {n} | before the queries: offline sentiment | {_n(s['seconds'])} | "
                         f"{s['candidates']:,} post versions | {_mb(s)} |")
        elif "enrichment_build" in f and (results.get("sentiment") or {}).get("size") == int(size):
            lines.append(f"| {n} | before the queries: offline sentiment | – | the measured run (below) | – |")
        if "enrichment_build" in f:
            b = f["enrichment_build"]
            lines.append(f"| {n} | before the queries: dbt build -s source:enrichment+ | {_n(b['seconds'])} | "
                         f"{b['summary'].split(': ', 1)[-1].split(' in ')[0]} | {_mb(b)} |")
        if "queries" in f:
            q = f["queries"]
            medians = [x["median_ms"] for x in q["queries"].values()]
            lines.append(f"| {n} | queries ({len(medians)}, {q['posts']:,} posts) | – | median of medians "
                         f"{_n(statistics.median(medians) if medians else None)} ms | {_mb(q)} |")
    lines += [""]
    with_queries = [size for size, f in results["per_size"].items() if "queries" in f]
    largest = max(with_queries, key=int) if with_queries else None
    if largest:
        q = results["per_size"][largest]["queries"]
        enriched = (", after the offline sentiment of all post versions and a build of the enrichment marts"
                    if "enrichment_build" in results["per_size"][largest] else "")
        lines += [f"### Queries at {int(largest):,} events ({q['posts']:,} posts{enriched}; median of {q['repeats']} "
                  "runs after one warm-up; server = planning and execution under EXPLAIN ANALYZE, without sending "
                  "rows)", "",
                  "| query | median ms | max ms | first run ms | server ms | rows |", "|---|---|---|---|---|---|"]
        for name, x in q["queries"].items():
            lines.append(f"| {name} | {_n(x['median_ms'])} | {_n(x['max_ms'])} | {_n(x['first_ms'])} | "
                         f"{_n(x.get('server_ms'))} | {x['rows']:,} |")
        lines.append("")
    if results.get("sentiment"):
        s = results["sentiment"]
        lines += [f"Sentiment ({s['provider']}) at {s['size']:,} events: {s['scored'] + s['skipped']:,} post "
                  f"versions in {_n(s['seconds'])} s = {_n(s['posts_per_second'], 0)} posts/s "
                  f"({s['failed']} failed); peak {_mb(s)} MB.", ""]
    if results.get("polling"):
        p = results["polling"]
        lines += [f"Metric polling (one cycle against the simulator, batch size {p['batch_size']}): "
                  f"{p['refreshed']:,} posts refreshed with {p['requests']:,} requests = "
                  f"{_n(p['posts_per_request'])} per request ({p['due']:,} due, {p['missing']} missing, "
                  f"{p['rate_limit_waits']} rate-limit waits) in {_n(p['seconds'])} s; peak {_mb(p)} MB.", ""]
    lines.append(f"The figures as JSON: `{results.get('json_report', 'benchmarks.json')}` beside this file "
                 "(same run).")
    return "\n".join(lines) + "\n"


def write_report(path: Path, markdown: str, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = f"{BEGIN}\n{markdown}{END}"
    existing = path.read_text() if path.exists() else ""
    if BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = "# Benchmarks\n\n" + block + "\n" + existing
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
