"""Archive loads through the real loader: a worker process preparing batches while the previous one loads
stores exactly what preparing in-process stores, reports the same, cleans up after itself, and a problem
found by the worker reaches the caller as the same clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.generate import generate_archive
from extract.archive import load_archive
from extract.raw_loader import RawLoader
from orchestration.errors import UserError
from tests.helpers import query

ROWS = ("select event_id, instance_id, stream, source, event_type, received_at, payload, payload_status_id, "
        "payload_error, payload_escaped, payload_raw_base64 from raw.stream_events order by event_id, batch_key")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("archive") / "events.jsonl"
    generate_archive(path, 1_200, seed=11, per_hour=36_000)
    with open(path, "a", encoding="utf-8") as handle:  # a line that is not JSON: kept, as an invalid event
        handle.write(json.dumps({"event": "update", "instance": "https://sim.example", "payload": "{not json",
                                 "received_at": "2026-11-02T01:00:00Z"}) + "\n")
    return path


def _load(warehouse, tmp_path, archive, parallel):
    loader = RawLoader(warehouse.dsn, tmp_path / "state")
    report = load_archive(archive, loader, batch_size=250, parallel=parallel)
    return report, query(warehouse, ROWS), loader


def test_a_worker_process_stores_what_in_process_preparation_stores(warehouse, tmp_path, archive, pg_server):
    inline, inline_rows, _ = _load(warehouse, tmp_path / "inline", archive, parallel=False)
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("truncate raw.stream_events, raw.account_consent")
    conn.close()
    parallel, parallel_rows, loader = _load(warehouse, tmp_path / "parallel", archive, parallel=True)

    assert parallel.rows == inline.rows == 1_201 and parallel.batches == inline.batches == 5
    assert (parallel.rows_with_errors, parallel.privacy_redacted, parallel.per_instance) == (
        inline.rows_with_errors, inline.privacy_redacted, inline.per_instance)
    assert parallel.rows_with_errors >= 1
    assert parallel_rows == inline_rows
    assert not any(loader.imports_dir.rglob("*")), "prepared batch files are removed once loaded"
    # nor does dlt keep a copy of every loaded file (a streamer's state directory would grow without bound)
    dlt_files = [p for p in (loader.state_dir / "dlt").rglob("*") if p.is_file() and "completed_jobs" in p.parts]
    assert dlt_files == [], dlt_files[:3]
    assert any((loader.state_dir / "dlt").rglob("loaded/*")), "the loaded packages themselves are still recorded"
    # every batch is one load: its rows carry the load id dlt recorded for it
    loads = query(warehouse, "select count(distinct r._dlt_load_id), count(distinct l.load_id) "
                             "from raw.stream_events as r left join raw._dlt_loads as l on l.load_id = r._dlt_load_id")
    assert loads == [(5, 5)]

    again = load_archive(archive, loader, batch_size=250, parallel=True)
    assert again.rows == 0 and again.skipped_batches == 5


def test_a_problem_found_by_the_worker_is_the_same_clear_error(warehouse, tmp_path):
    archive = tmp_path / "no-instance.jsonl"
    lines = [{"event": "update", "instance": "https://sim.example", "payload": {"id": str(n)}} for n in range(3)]
    lines.append({"event": "update", "payload": {"id": "4"}})
    archive.write_text("".join(json.dumps(line) + "\n" for line in lines))
    for parallel in (False, True):
        with pytest.raises(UserError, match="line 4 names no instance"):
            load_archive(archive, RawLoader(warehouse.dsn, tmp_path / f"state-{parallel}"), batch_size=2,
                         parallel=parallel)
    # the batch before the bad line was loaded in both runs (the same batch key: once)
    assert query(warehouse, "select count(*) from raw.stream_events") == [(2,)]


def test_the_worker_does_not_depend_on_the_callers_main_module(warehouse, tmp_path, archive):
    """A script without an ``if __name__ == "__main__"`` guard can load in parallel (the worker is a fresh
    interpreter, not a multiprocessing child that would import the script again)."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom extract.archive import load_archive\n"
        "from extract.raw_loader import RawLoader\n"
        f"report = load_archive(Path({str(archive)!r}), RawLoader({warehouse.dsn!r}, Path({str(tmp_path)!r})),\n"
        "                      batch_size=500, parallel=True)\n"
        "print(report.rows, report.batches)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1201", "3"]
    assert query(warehouse, "select count(*) from raw.stream_events") == [(1_201,)]


def test_the_first_batches_are_smaller_and_the_same_file_always_gives_the_same_batches(archive, monkeypatch):
    from extract import archive as module

    monkeypatch.setattr(module, "_FIRST_BATCH_EVENTS", 50)
    sizes = [len(events) for events, _ in module._batches(archive, None, 300)]
    assert sizes == [50, 100, 200, 300, 300, 251]
    assert [len(events) for events, _ in module._batches(archive, None, 300)] == sizes


def test_settling_while_the_next_batch_loads_stores_and_reports_what_settling_in_turn_does(
        warehouse, tmp_path, archive):
    """``load_all_prepared`` settles a batch (confirmation, consent, redaction of earlier rows its deletes
    remove) in a background thread while the next batch is stored: the same rows and report as settling
    each batch before storing the next (``load_prepared`` one batch at a time)."""
    from extract import archive as module
    from extract.consent import STRICT
    from extract.raw_loader import LoadReport

    loader = RawLoader(warehouse.dsn, tmp_path / "one-by-one")
    in_turn = LoadReport()
    for prepared, _ in module._prepared(archive, None, 250, None, STRICT, loader.imports_dir / "batches"):
        in_turn.add(loader.load_prepared(prepared))
    in_turn_rows = query(warehouse, ROWS)
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("truncate raw.stream_events, raw.account_consent")
    conn.close()

    settled: list[int] = []
    pipelined = load_archive(archive, RawLoader(warehouse.dsn, tmp_path / "pipelined"), batch_size=250,
                             on_batch=lambda rows, _: settled.append(rows))
    assert pipelined == in_turn
    assert query(warehouse, ROWS) == in_turn_rows
    assert settled == [250, 250, 250, 250, 201] and pipelined.batches == 5  # each batch once, in order
    # deletes of statuses stored in earlier batches were redacted by settling, not only within a batch
    cross_batch = query(warehouse, """
        select count(*) from raw.stream_events as stored
        where stored.payload ? 'forkalytics_redacted' and exists (
            select 1 from raw.stream_events as deleted
            where deleted.event_type = 'delete' and deleted.payload_status_id = stored.payload_status_id
              and deleted.batch_key > stored.batch_key)""")[0][0]
    assert cross_batch > 0


def test_a_failed_settling_stops_the_load_with_its_error(warehouse, tmp_path, archive, monkeypatch):
    from extract.raw_loader import LoadError

    def refuse(cur, batch_key, expected):
        if batch_key.endswith(":000001"):
            raise LoadError(f"batch {batch_key} was not stored completely")

    monkeypatch.setattr(RawLoader, "_confirm", staticmethod(refuse))
    loader = RawLoader(warehouse.dsn, tmp_path / "state")
    with pytest.raises(LoadError, match=":000001 was not stored completely"):
        load_archive(archive, loader, batch_size=250)
    assert not any(loader.imports_dir.rglob("*.arrow")), "prepared batch files are removed after a failure too"


def test_fields_of_the_wrong_json_type_are_read_as_documented(warehouse, tmp_path):
    archive = tmp_path / "odd-types.jsonl"
    lines = [{"event": "update", "instance": "https://sim.example", "source": ["stream"], "stream": {"a": 1},
              "received_at": 5, "payload": {"id": "1"}},
             {"event": ["update"], "instance": "https://sim.example", "source": "backfill", "payload": {"id": "2"}}]
    archive.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = load_archive(archive, RawLoader(warehouse.dsn, tmp_path / "state"))
    assert report.rows == 2
    assert query(warehouse, "select source, stream, event_type, payload_status_id from raw.stream_events "
                            "order by payload_status_id") == [
        ("import", "archive", "update", "1"), ("backfill", "archive", "archive.invalid", None)]
