"""``python -m bench`` (``make bench``): generate archives, measure every step, write the report.

Everything runs against an embedded PostgreSQL server of the benchmark's own, in a work directory that is
removed at the end (``--keep`` keeps it). Each measured step runs in a child process, so its peak memory
(with its children's: dbt runs as a child of its step) comes from the kernel; the PostgreSQL server's
memory is sampled separately (sum of the proportional set size of its processes, via psutil when present).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.report import TARGETS, evaluate, render_markdown, write_report
from orchestration.cycle import ENRICHMENT_SELECTOR, cycle_build_args
from orchestration.warehouse import EmbeddedPostgres, Warehouse, WarehouseSettings

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="event counts to measure at, comma-separated (default 100000,1000000)")
    parser.add_argument("--increment", type=int, default=36_000,
                        help="events added by the incremental cycle (default 36000: an hour of a busy instance)")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each query for the median (default 7)")
    parser.add_argument("--poll-events", type=int, default=3000,
                        help="simulator events loaded before the polling cycle (default 3000)")
    parser.add_argument("--sentiment-limit", type=int, default=100_000,
                        help="measure sentiment at the largest size not above this many events (default 100000)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2,000 events, increment 500, 3 repeats; report in .forkalytics/")
    parser.add_argument("--skip", default="", help="steps to leave out, comma-separated: copy, incremental, "
                                                   "queries, sentiment, polling")
    parser.add_argument("--work-dir", help="where archives and the server live (default: a new temporary "
                                           "directory, removed at the end)")
    parser.add_argument("--archive-dir", help="reuse (or keep) generated archives in this directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--output", help="Markdown report, a JSON file beside it (default docs/benchmarks.md; "
                                         "with --quick, .forkalytics/benchmarks-quick.md)")
    return parser


class ServerMemory:
    """Samples the PostgreSQL server's memory (sum of PSS of the postmaster and its children).

    Every 2 s: reading a process's PSS walks its page tables (~4 ms per server process, holding that process's
    memory map), so sampling ten processes every 0.5 s took ~9 % of a core from the steps being measured."""

    INTERVAL_SECONDS = 2.0

    def __init__(self, pid_file: Path) -> None:
        self.pid_file = pid_file
        self.peak = 0
        self.available = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        try:
            import psutil  # noqa: F401 - optional
        except ImportError:
            self.available = False

    def _sample(self) -> int:
        import psutil

        try:
            root = psutil.Process(int(self.pid_file.read_text().splitlines()[0]))
            total = 0
            for process in [root, *root.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except (psutil.Error, AttributeError):
                    continue
            return total
        except (OSError, ValueError, IndexError, psutil.Error):
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL_SECONDS):
            self.peak = max(self.peak, self._sample())

    def start(self) -> None:
        if self.available:
            self._thread.start()

    def reset(self) -> int:
        peak, self.peak = self.peak, 0
        return peak

    def stop(self) -> None:
        self._stop.set()


class Runner:
    def __init__(self, work: Path, server_memory: ServerMemory, say=None) -> None:
        self.work = work
        self.memory = server_memory
        self.say = say or (lambda message: print(message, flush=True))
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def run(self, label: str, name: str, **arguments: Any) -> dict[str, Any]:
        """Run step ``name`` in a child process; its figures plus peak memory and CPU time."""
        self.say(f"bench: {label} ...")
        self.memory.reset()
        stdout_path = self.logs / f"{label.replace(' ', '_').replace('/', '_')}.out"
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        with open(stdout_path, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "bench.steps", name, json.dumps(arguments)],
                                       cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        text = stdout_path.read_text(errors="replace")
        if process.returncode != 0:
            raise BenchError(f"step {label} failed (exit {process.returncode}); output in {stdout_path}:\n"
                             + text[-3000:])
        result = json.loads(text.strip().splitlines()[-1])
        result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
        result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
        result["wall_seconds"] = round(wall, 2)
        result["load_average_before"] = round(load_before, 2)
        result["load_average_after"] = round(os.getloadavg()[0], 2)
        server_peak = self.memory.reset()
        if self.memory.available:
            result["server_peak_mb"] = round(server_peak / 2**20, 1)
        self.say(f"bench: {label}: {_headline(result)}")
        return result


def _headline(result: dict[str, Any]) -> str:
    for key in ("events_per_second", "posts_per_second", "posts_per_request"):
        if result.get(key) is not None:
            return f"{result[key]:,.1f} {key.replace('_', ' ')}, peak {result['peak_rss_mb']} MB"
    return f"{result['wall_seconds']:.1f} s, peak {result['peak_rss_mb']} MB"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    from importlib.metadata import version

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"commit": commit, "cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "os": platform.platform(),
            "python": platform.python_version(), "dbt_core": version("dbt-core"), "dlt": version("dlt"),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        sizes, increment, repeats, poll_events = [2000], 500, 3, 300
    else:
        try:
            sizes = sorted({int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()})
        except ValueError:
            print("bench: --sizes takes event counts like 100000,1000000", file=sys.stderr)
            return 2
        increment, repeats, poll_events = args.increment, args.repeats, args.poll_events
    if not sizes or min(sizes) < 1:
        print("bench: --sizes needs at least one positive count", file=sys.stderr)
        return 2
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    work = Path(args.work_dir).resolve() if args.work_dir else Path(tempfile.mkdtemp(prefix="forkalytics-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    archives = Path(args.archive_dir).resolve() if args.archive_dir else work / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    output = Path(args.output) if args.output else (REPO / ".forkalytics" / "benchmarks-quick.md" if args.quick
                                                     else REPO / "docs" / "benchmarks.md")
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    # The benchmark's own server: the configured warehouse (and its URL) is never touched.
    os.environ.pop("FORKALYTICS_DATABASE_URL", None)

    server = EmbeddedPostgres(work / "pg", _free_port())
    memory = ServerMemory(server.pgdata / "postmaster.pid")
    results: dict[str, Any] = {"command": command, "started_at": datetime.now(timezone.utc).isoformat(),
                               "machine": machine(), "sizes": sizes, "increment": increment, "targets": TARGETS,
                               "generate": {}, "per_size": {},
                               "json_report": output.with_suffix(".json").name}
    runner = Runner(work, memory)
    try:
        server.start()
        memory.start()
        total = max(sizes) + increment
        stream = archives / f"events-{total}.jsonl"
        if not stream.exists():
            results["generate"] = runner.run(f"generate {total:,} events", "generate", path=str(stream),
                                             events=total, seed=2026, per_hour=36_000)
        else:
            results["generate"] = {"reused": str(stream)}
        from bench.generate import split_archive

        sentiment_size = max([s for s in sizes if s <= args.sentiment_limit] or [min(sizes)])
        for size in sizes:
            base, extra = archives / f"base-{size}.jsonl", archives / f"increment-{size}.jsonl"
            if not (base.exists() and extra.exists()):
                split_archive(stream, size, base, increment, extra)
            figures: dict[str, Any] = {"archive_bytes": base.stat().st_size}
            database = f"bench_{size}"
            admin = Warehouse(WarehouseSettings(url=None, data_dir=work / "pg", port=server.port, database=database))
            dsn = admin.ensure_running()
            state = work / f"state-{size}"
            figures["ingest"] = runner.run(f"{size:,}: loader", "load", dsn=dsn, state_dir=str(state),
                                           archive=str(base))
            if "copy" not in skip:
                figures["copy"] = runner.run(f"{size:,}: bare COPY", "copy", dsn=dsn, work_dir=str(work))
            figures["full_build"] = _dbt_build(runner, f"{size:,}: dbt build (full)", dsn, state, ["build"])
            if "incremental" not in skip:
                figures["incremental_load"] = runner.run(f"{size:,}: load +{increment:,}", "load", dsn=dsn,
                                                         state_dir=str(state), archive=str(extra))
                # as `forkalytics run` builds: its data tests read the rows the run wrote
                figures["incremental_build"] = _dbt_build(runner, f"{size:,}: dbt build (incremental)", dsn, state,
                                                          ["build", *cycle_build_args()])
            # The sentiment throughput is measured at one size; at every size the queries read the marts of a
            # warehouse whose post versions all have their offline sentiment (the edit analysis reads it), as
            # after a cycle: the measured run serves where the sizes coincide, a run of its own elsewhere.
            if "sentiment" not in skip and size == sentiment_size:
                results["sentiment"] = {"size": size, **runner.run(f"{size:,}: sentiment", "sentiment", dsn=dsn)}
            elif "queries" not in skip:
                figures["query_sentiment"] = runner.run(f"{size:,}: sentiment for the queries", "sentiment",
                                                        dsn=dsn)
                # not a measurement: its summary lines, without the progress (a line per 1,000 versions)
                figures["query_sentiment"]["lines"] = [line for line in figures["query_sentiment"]["lines"]
                                                       if "processed so far" not in line]
            if "queries" not in skip:
                figures["enrichment_build"] = _enrichment_build(runner, size, dsn, state)
                figures["queries"] = runner.run(f"{size:,}: queries", "queries", dsn=dsn, state_dir=str(state),
                                                repeats=repeats)
            results["per_size"][str(size)] = figures
            _write(output, results)  # a report after every size, so a long run that is stopped leaves figures
            if not args.keep:
                server_admin = admin.embedded.dsn("postgres") if admin.embedded else dsn
                _drop_database(server_admin, database)
        if "polling" not in skip:
            admin = Warehouse(WarehouseSettings(url=None, data_dir=work / "pg", port=server.port,
                                                database="bench_poll"))
            dsn = admin.ensure_running()
            results["polling"] = runner.run("metric polling", "polling", dsn=dsn,
                                            state_dir=str(work / "state-poll"), events=poll_events)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        memory.stop()
        if args.keep:
            server.stop()
        else:
            server.destroy()
            for child in list(work.iterdir()):
                if child != archives:
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
            if not args.archive_dir:
                shutil.rmtree(archives, ignore_errors=True)
            if not args.work_dir:
                shutil.rmtree(work, ignore_errors=True)
    _write(output, results)
    print(f"bench: report written to {output} and {output.with_suffix('.json')}")
    return 0


class BenchError(Exception):
    """A step failed: the run stops there (later figures would measure a broken warehouse)."""


def _dbt_build(runner: Runner, label: str, dsn: str, state: Path, args: list[str]) -> dict[str, Any]:
    """A ``dbt build`` step; a build that fails (a model, a test at error severity, the disk) stops the run,
    since the time of a build that skipped half the project is no figure."""
    figure = runner.run(label, "dbt", dsn=dsn, state_dir=str(state), args=args)
    if not figure["success"]:
        raise BenchError(f"{label} failed ({figure['summary']}):\n" + figure["output_tail"])
    return figure


def _enrichment_build(runner: Runner, size: int, dsn: str, state: Path) -> dict[str, Any]:
    """``dbt build -s source:enrichment+`` (the cycle's last step) after the sentiment, before the queries; not
    one of the dbt build figures. The queries are not measured on marts it failed to build."""
    return _dbt_build(runner, f"{size:,}: dbt build -s {ENRICHMENT_SELECTOR}", dsn, state,
                      ["build", "--select", ENRICHMENT_SELECTOR])


def _write(output: Path, results: dict[str, Any]) -> None:
    results["finished_at"] = datetime.now(timezone.utc).isoformat()
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["verdicts"] = evaluate(results)
    write_report(output, render_markdown(results), results)


def _drop_database(admin_dsn: str, database: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
