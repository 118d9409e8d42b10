"""The measured steps. Each runs in a child process of its own (``python -m bench.steps NAME JSON``), so
the parent can read that process's peak memory (its own and its children's, dbt included) from ``wait4``.
A step prints its figures as one JSON object on the last line of its standard output."""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

from extract.raw_schema import STREAM_EVENT_COLUMNS
from orchestration.dbt_runner import REPO_ROOT, run_dbt

STEPS: dict[str, Callable[..., dict[str, Any]]] = {}


def step(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    STEPS[function.__name__] = function
    return function


def _connect(dsn: str):
    return psycopg2.connect(dsn, connect_timeout=10)


@step
def generate(path: str, events: int, seed: int, per_hour: int) -> dict[str, Any]:
    from bench.generate import generate_archive

    started = time.perf_counter()
    stats = generate_archive(Path(path), events, seed=seed, per_hour=per_hour)
    return {"seconds": time.perf_counter() - started, **stats.to_json()}


@step
def load(dsn: str, state_dir: str, archive: str, batch_size: int | None = None) -> dict[str, Any]:
    """The project's loader, exactly as ``forkalytics load --from`` runs it."""
    from extract.archive import load_archive
    from extract.raw_loader import RawLoader

    started = time.perf_counter()
    from extract.archive import ARCHIVE_BATCH_EVENTS

    report = load_archive(Path(archive), RawLoader(dsn, Path(state_dir)), batch_size=batch_size or ARCHIVE_BATCH_EVENTS)
    seconds = time.perf_counter() - started
    return {"rows": report.rows, "batches": report.batches, "seconds": seconds,
            "events_per_second": report.rows / seconds if seconds else None}


@step
def copy(dsn: str, work_dir: str) -> dict[str, Any]:
    """The physical limit: the rows the loader has just stored, exported from ``raw.stream_events`` to a CSV
    file and loaded again with one bare ``COPY`` into a table shaped like it (same columns, defaults and
    indexes). Only the ``COPY`` and its commit are timed, not the export."""
    columns = ", ".join(STREAM_EVENT_COLUMNS)
    export = Path(work_dir) / "copy-rows.csv"
    conn = _connect(dsn)
    try:
        prepare_started = time.perf_counter()
        with conn, conn.cursor() as cur, open(export, "w", encoding="utf-8") as out:
            cur.copy_expert(f"copy (select {columns} from raw.stream_events) to stdout with (format csv)", out)
        prepare_seconds = time.perf_counter() - prepare_started
        with conn, conn.cursor() as cur:
            cur.execute("create schema if not exists bench")
            cur.execute("drop table if exists bench.copy_events")
            cur.execute("create table bench.copy_events (like raw.stream_events including all)")
        started = time.perf_counter()
        with conn, conn.cursor() as cur, open(export, encoding="utf-8") as source:
            cur.copy_expert(f"copy bench.copy_events ({columns}) from stdin with (format csv)", source)
        seconds = time.perf_counter() - started
        with conn, conn.cursor() as cur:
            cur.execute("select count(*) from bench.copy_events")
            copied = cur.fetchone()[0]
            cur.execute("drop schema bench cascade")
    finally:
        conn.close()
        export.unlink(missing_ok=True)
    return {"rows": copied, "seconds": seconds, "events_per_second": copied / seconds if seconds else None,
            "prepare_seconds": prepare_seconds}


@step
def dbt(dsn: str, state_dir: str, args: list[str]) -> dict[str, Any]:
    from enrichment.schema import ensure_schema

    conn = _connect(dsn)
    try:
        ensure_schema(conn)  # the enrichment sources exist, as after the first cycle
    finally:
        conn.close()
    started = time.perf_counter()
    result = run_dbt(args, dsn, state_dir=Path(state_dir), quiet=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "dbt_elapsed_seconds": result.elapsed_seconds, "success": result.success,
            "summary": result.summary, "output_tail": "" if result.success else result.output_tail[-3000:]}


def _compiled_analyses(dsn: str, state_dir: Path) -> dict[str, str]:
    result = run_dbt(["compile", "--select", "resource_type:analysis"], dsn, state_dir=state_dir, quiet=True)
    if not result.success:
        raise RuntimeError("dbt compile of the analyses failed: " + result.output_tail[-2000:])
    folder = state_dir / "dbt" / "target" / "compiled" / "forkalytics" / "dbt_project" / "analyses"
    return {path.stem: path.read_text() for path in sorted(folder.glob("*.sql"))}


@step
def queries(dsn: str, state_dir: str, repeats: int) -> dict[str, Any]:
    """Median latency of the seed's example queries (``dbt_project/analyses``, compiled) and of reading each
    trending mart whole, as a BI tool does (to the last row fetched); the first run warms the cache and is not
    counted. Then once more under ``EXPLAIN ANALYZE``: the server's time alone, without sending the rows."""
    statements = {f"analysis {name}": sql for name, sql in _compiled_analyses(dsn, Path(state_dir)).items()}
    conn = _connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = 'marts' "
                        "and table_name like '%%trend%%' order by table_name")
            for (table,) in cur.fetchall():
                statements[f"mart marts.{table}"] = f'select * from marts."{table}"'
            cur.execute("select count(*) from marts.posts")
            posts = cur.fetchone()[0]
        results = {}
        for name, sql in statements.items():
            timings = []
            rows = 0
            for _ in range(repeats + 1):
                started = time.perf_counter()
                with conn.cursor() as cur:
                    cur.execute(sql)
                    rows = len(cur.fetchall())
                timings.append((time.perf_counter() - started) * 1000)
            with conn.cursor() as cur:  # the server's share: planning and execution, without sending rows
                cur.execute("explain (analyze, format json) " + sql)
                plan = cur.fetchone()[0][0]
            results[name] = {"median_ms": statistics.median(timings[1:]), "max_ms": max(timings[1:]),
                             "first_ms": timings[0], "rows": rows,
                             "server_ms": plan["Planning Time"] + plan["Execution Time"]}
    finally:
        conn.close()
    return {"posts": posts, "repeats": repeats, "queries": results}


@step
def sentiment(dsn: str) -> dict[str, Any]:
    """Offline sentiment (VADER, no LLM configured) over every post version not analysed yet."""
    from enrichment.runner import run_enrichment
    from enrichment.settings import EnrichmentSettings

    lines: list[str] = []
    started = time.perf_counter()
    report = run_enrichment(dsn, EnrichmentSettings(), say=lines.append, tasks=["sentiment"])
    seconds = time.perf_counter() - started
    done = report.sentiment
    assert done is not None
    analysed = done.scored + done.skipped
    return {"seconds": seconds, "candidates": done.candidates, "scored": done.scored, "skipped": done.skipped,
            "failed": done.failed, "posts_per_second": analysed / seconds if seconds else None,
            "provider": report.providers.get("sentiment"), "lines": lines}


@step
def polling(dsn: str, state_dir: str, events: int) -> dict[str, Any]:
    """One polling cycle (``forkalytics poll --once``) against the simulator, ten minutes after ``events`` of
    its events were loaded into raw: posts refreshed per request."""
    from extract.archive import load_archive
    from extract.raw_loader import RawLoader
    from extract.simulator import SimulatedInstance, SimulatorConfig
    from orchestration.config import parse_config
    from orchestration.polling import PollRunner
    from orchestration.warehouse import Warehouse, WarehouseSettings

    token_env, token = "FORKALYTICS_BENCH_SIM_TOKEN", "bench-token"  # noqa: S105 - the simulator's own
    os.environ[token_env] = token
    sim = SimulatedInstance(SimulatorConfig(domain="poll.bench.example", port=0, seed=7, events_per_second=0,
                                            access_token=token, rate_limit=300, rate_window_seconds=300))
    sim.start()
    try:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        archive = Path(state_dir) / "poll-events.jsonl"
        with open(archive, "w", encoding="utf-8") as out:
            for event in sim.emit(events):
                out.write(json.dumps({"event": event.event, "payload": event.data, "instance": sim.url,
                                      "stream": "public", "received_at": event.emitted_at.isoformat()}) + "\n")
        raw_config = {"state_dir": state_dir, "instances": [{"url": sim.url, "streams": ["public"],
                                                             "access_token_env": token_env}]}
        config = parse_config(raw_config, Path(state_dir) / "forkalytics.yml")
        load_archive(archive, RawLoader(dsn, Path(state_dir)))
        warehouse = Warehouse(WarehouseSettings(url=dsn, data_dir=Path(state_dir) / "unused"))
        lines: list[str] = []
        started = time.perf_counter()
        # Ten minutes later every post is due again (the youngest tier refreshes every 5 minutes).
        later = dt.timedelta(minutes=10)
        report = PollRunner(config, warehouse, say=lines.append,
                            clock=lambda: dt.datetime.now(dt.timezone.utc) + later).run(once=True)
        seconds = time.perf_counter() - started
    finally:
        sim.stop()
    return {"seconds": seconds, "due": report.due, "refreshed": report.refreshed, "requests": report.requests,
            "missing": report.missing, "rate_limit_waits": report.rate_limit_waits,
            "posts_per_request": report.refreshed / report.requests if report.requests else None,
            "batch_size": config.poll.batch_size, "lines": [line.text() for line in report.lines]}


def main(argv: list[str]) -> int:
    name, arguments = argv[0], json.loads(argv[1])
    os.chdir(REPO_ROOT)
    result = STEPS[name](**arguments)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
