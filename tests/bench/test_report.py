"""The benchmark's verdicts and report (``make bench`` itself is not part of ``make test``): ratios are
computed from the figures of one run, a target is judged met or missed against its threshold, a figure
measured off the target's size says so, and the report keeps the text around its markers."""

from __future__ import annotations

from bench.report import BEGIN, END, evaluate, render_markdown, write_report


def _results(*, loader=7_000.0, copy=10_000.0, build_1m=170.0, cycle_small=(10.0, 20.0), cycle_large=(11.0, 25.0),
             query_ms=40.0, posts=1_050_000):
    def figures(cycle, build):
        return {"ingest": {"events_per_second": loader, "seconds": 1.0, "peak_rss_mb": 100.0},
                "copy": {"events_per_second": copy, "seconds": 1.0, "peak_rss_mb": 10.0},
                "full_build": {"seconds": build, "summary": "dbt build: ok (pass 1) in 1 s", "peak_rss_mb": 1.0},
                "incremental_load": {"seconds": cycle[0], "events_per_second": 3600.0, "peak_rss_mb": 1.0},
                "incremental_build": {"seconds": cycle[1], "peak_rss_mb": 1.0}}
    large = figures(cycle_large, build_1m)
    large["queries"] = {"posts": posts, "repeats": 3, "peak_rss_mb": 1.0, "queries": {
        "analysis a": {"median_ms": query_ms, "max_ms": query_ms, "first_ms": query_ms, "rows": 1, "server_ms": 1.0},
        "mart marts.trending_x": {"median_ms": 5.0, "max_ms": 6.0, "first_ms": 7.0, "rows": 2}}}
    return {"per_size": {"100000": figures(cycle_small, 20.0), "1000000": large},
            "sentiment": {"size": 100_000, "posts_per_second": 3_500.0, "scored": 1, "skipped": 1, "failed": 0,
                          "seconds": 1.0, "provider": "offline"},
            "polling": {"posts_per_request": 19.5, "due": 100}}


def _verdicts(results):
    return {(v["target"], v["where"]): v for v in evaluate(results)}


def test_targets_met():
    verdicts = _verdicts(_results())
    assert verdicts[("ingest_ratio", "100,000 events")]["value"] == 0.7
    assert all(v["met"] for v in verdicts.values())
    growth = verdicts[("incremental_growth", "100,000 → 1,000,000 events")]
    assert round(growth["value"], 3) == round(36 / 30 - 1, 3) and growth["note"] == ""


def test_targets_missed_and_notes():
    verdicts = _verdicts(_results(loader=6_900.0, build_1m=181.0, cycle_large=(20.0, 30.0), query_ms=100.5,
                                  posts=800_000))
    assert verdicts[("ingest_ratio", "1,000,000 events")]["met"] is False
    assert verdicts[("full_build_1m_seconds", "1,000,000 events")]["met"] is False
    assert verdicts[("incremental_growth", "100,000 → 1,000,000 events")]["met"] is False
    query = verdicts[("query_median_ms", "analysis a")]
    assert query["met"] is False and query["note"] == "800,000 posts, not 1M"
    assert verdicts[("query_median_ms", "mart marts.trending_x")]["met"] is True


def test_the_report_replaces_only_its_block(tmp_path):
    results = _results()
    results.update(command="python -m bench", started_at="2026-11-29T00:00:00", finished_at="2026-11-29T01:00:00",
                   increment=36_000, machine={"commit": "abc", "cpu": "cpu", "cores": 2, "memory_gb": 24,
                                              "os": "linux", "python": "3.11", "dbt_core": "1.11", "dlt": "1.31",
                                              "load_average_at_start": [0.1]})
    results["verdicts"] = evaluate(results)
    results["polling"].update(batch_size=20, refreshed=100, requests=5, missing=0, rate_limit_waits=0, seconds=1.0)
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nintro\n\n{BEGIN}\nold figures\n{END}\n\n## Gaps\nanalysis\n")
    write_report(page, render_markdown(results), results)
    text = page.read_text()
    assert "old figures" not in text and text.startswith("# Benchmarks\n\nintro") and text.endswith("analysis\n")
    assert "| loader ≥ 70% of bare COPY | 70% | 100,000 events | met |" in text
    assert "| analysis a | 40.0 | 40.0 | 40.0 | 1.0 | 1 |" in text
    assert (tmp_path / "benchmarks.json").exists()


def test_the_report_says_the_queries_ran_on_enriched_marts():
    """Before the queries every size has the offline sentiment of its post versions (the measured run where
    the sizes coincide, a run of its own elsewhere) and its enrichment marts built; neither is a dbt build
    figure."""
    results = _results()
    results.update(command="python -m bench", started_at="2026-11-29T00:00:00", finished_at="2026-11-29T01:00:00",
                   increment=36_000, machine={"commit": "abc", "cpu": "cpu", "cores": 2, "memory_gb": 24,
                                              "os": "linux", "python": "3.11", "dbt_core": "1.11", "dlt": "1.31",
                                              "load_average_at_start": [0.1]})
    build = {"seconds": 30.0, "summary": "dbt build: ok (pass 40, warn 0, error 0, skip 0) in 30 s", "success": True,
             "peak_rss_mb": 1.0}
    results["per_size"]["100000"]["enrichment_build"] = {**build, "seconds": 3.0}
    results["per_size"]["1000000"]["enrichment_build"] = build
    results["per_size"]["1000000"]["query_sentiment"] = {"seconds": 90.0, "candidates": 1_000_000, "scored": 300_000,
                                                         "skipped": 600_000, "failed": 0, "peak_rss_mb": 2.0}
    results["polling"].update(batch_size=20, refreshed=100, requests=5, missing=0, rate_limit_waits=0, seconds=1.0)
    results["verdicts"] = evaluate(results)
    text = render_markdown(results)
    assert "| 100,000 | before the queries: offline sentiment | – | the measured run (below) | – |" in text
    assert "| 1,000,000 | before the queries: offline sentiment | 90.0 | 1,000,000 post versions | 2 |" in text
    assert ("| 1,000,000 | before the queries: dbt build -s source:enrichment+ | 30.0 | "
            "ok (pass 40, warn 0, error 0, skip 0) | 1 |") in text
    assert "after the offline sentiment of all post versions and a build of the enrichment marts" in text
    full_build = next(v for v in results["verdicts"] if v["target"] == "full_build_1m_seconds")
    assert full_build["value"] == 170.0
