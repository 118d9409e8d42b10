"""The durable buffer: nothing received is lost, a crash leaves loadable segments, errors are loud."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from extract.events import RawEvent
from extract.raw_loader import RawLoader
from extract.spool import SpoolBusy, SpoolError, SpoolWriter, read_segment, ready_segments
from orchestration.errors import UserError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def event(n: int, payload: bytes | None = None) -> RawEvent:
    body = payload if payload is not None else json.dumps({"id": str(1000 + n)}).encode()
    return RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, body)


def test_segments_rotate_by_size_and_roundtrip_exact_bytes(tmp_path):
    odd = [b"\xff\xfe not utf-8", b'{"id": "5", "c": "nul \\u0000"}', b"caf\xc3\xa9 \x00 raw nul", None]
    with SpoolWriter(tmp_path, max_events=3, max_seconds=60) as spool:
        for n in range(5):
            spool.append(event(n))
        for payload in odd:
            spool.append(RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, payload))
    segments = ready_segments(tmp_path)
    assert len(segments) == 3  # 3 + 3 + 3 (the last sealed on close)
    events = [e for s in segments for e in read_segment(s).events]
    assert [e.payload for e in events[5:]] == odd
    assert events[0] == event(0)


def test_a_crash_leaves_an_open_segment_that_the_next_writer_seals(tmp_path):
    spool = SpoolWriter(tmp_path, max_events=100, max_seconds=60)
    spool.open()
    for n in range(4):
        spool.append(event(n))
    # simulate kill -9: the process never closes; its lock dies with it
    spool._lock_cm.__exit__(None, None, None)
    open_files = list(tmp_path.glob("*.open"))
    assert len(open_files) == 1
    with open(open_files[0], "ab") as handle:  # a line cut short mid-write
        handle.write(b'{"i":"a.example","u":"https://a.exa')
    with SpoolWriter(tmp_path, max_events=100, max_seconds=60):
        pass
    segments = ready_segments(tmp_path)
    assert len(segments) == 1
    contents = read_segment(segments[0])
    assert len(contents.events) == 4 and contents.damaged_lines == 1


def test_only_one_writer_per_directory(tmp_path):
    with SpoolWriter(tmp_path) as _first, pytest.raises(SpoolBusy):
        SpoolWriter(tmp_path).open()


@contextlib.contextmanager
def _unwritable(directory: Path):
    """Make a directory unwritable for this process: chmod, or as root (which ignores modes) chattr +i."""
    if os.geteuid() != 0:
        directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            directory.chmod(stat.S_IRWXU)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(directory)]).returncode != 0:
        pytest.skip("cannot make a directory unwritable for root here (no chattr support)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_unwritable_directory_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    with _unwritable(locked), pytest.raises(SpoolError, match="permission denied|not permitted"):
        SpoolWriter(locked / "spool").open()


def test_directory_becoming_unwritable_stops_writing_loudly(tmp_path):
    spool_dir = tmp_path / "spool"
    with SpoolWriter(spool_dir, max_events=1, max_seconds=60) as spool:
        spool.append(event(1))  # sealed at once: the next append needs a new segment file
        with _unwritable(spool_dir), pytest.raises(SpoolError, match="no received event is dropped"):
            spool.append(event(2))
    assert sum(len(read_segment(s).events) for s in ready_segments(spool_dir)) == 1


def test_a_full_disk_stops_writing_loudly(tmp_path):
    """A real ENOSPC from a 1 MiB tmpfs (skipped where mounting is not allowed)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        with SpoolWriter(mount_point / "spool", max_events=10_000, max_seconds=60) as spool:
            big = event(0, b'{"id": "1", "content": "' + b"x" * 60_000 + b'"}')
            with pytest.raises(SpoolError, match="the disk is full"):
                for _ in range(100):
                    spool.append(big)
            assert spool.appended >= 10
    except SpoolError as exc:  # sealing the last segment on close may fail too: also loud, also fine
        assert "disk is full" in str(exc)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_write_failure_is_raised_not_swallowed(tmp_path, monkeypatch):
    with SpoolWriter(tmp_path) as spool:
        spool.append(event(1))

        def disk_full(fd, data):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", disk_full)
        with pytest.raises(SpoolError, match="disk is full"):
            spool.append(event(2))
        monkeypatch.undo()


def test_loading_is_exactly_once_even_if_a_segment_is_loaded_again(warehouse, tmp_path):
    spool_dir = tmp_path / "spool"
    with SpoolWriter(spool_dir, max_events=2, max_seconds=60) as spool:
        for n in range(5):
            spool.append(event(n))
    segments = ready_segments(spool_dir)
    kept = {path: path.read_bytes() for path in segments}
    loader = RawLoader(warehouse.dsn, tmp_path / "state")
    assert loader.drain_spool(spool_dir).rows == 5
    assert ready_segments(spool_dir) == []
    # a crash after the commit but before the segment was removed: the segment comes back
    for path, content in kept.items():
        path.write_bytes(content)
    again = loader.drain_spool(spool_dir)
    assert again.rows == 0 and again.skipped_batches == len(segments)
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(distinct event_id) from raw.stream_events")
        assert cur.fetchone() == (5, 5)


def test_a_file_in_place_of_the_buffer_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "spool"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError, match="Cannot write to the event buffer"):
        SpoolWriter(blocker).open()


def test_partitioned_raw_routes_rows_by_month(warehouse, tmp_path):
    from dataclasses import replace

    from extract.raw_schema import ensure_month_partitions
    from orchestration.warehouse import Warehouse

    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("drop table raw.stream_events")
    partitioned = Warehouse(replace(warehouse.settings, partition_raw_by_month=True))
    partitioned.bootstrap()
    october = datetime(2026, 10, 31, 23, 59, tzinfo=timezone.utc)
    loader = RawLoader(partitioned.dsn, tmp_path)
    # a row of December lands in the default partition first (as if loaded by another tool)...
    with partitioned.connect() as conn, conn.cursor() as cur:
        cur.execute("insert into raw.stream_events (event_id, instance_id, instance_url, stream, source, event_type, "
                    "received_at, payload_escaped, batch_key, _dlt_load_id) values ('x', 'a', 'u', 's', 'stream', "
                    "'update', '2026-12-02T00:00:00Z', false, 'manual', '1')")
    batch = [RawEvent("a.example", "https://a.example", "public", "stream", "update", october, b'{"id": "1"}'),
             RawEvent("a.example", "https://a.example", "public", "stream", "update", NOW, b'{"id": "2"}')]
    assert loader.load_batch("k", batch).rows == 2
    with partitioned.connect() as conn, conn.cursor() as cur:
        ensure_month_partitions(cur, {datetime(2026, 12, 1).date()})  # ...and moves when its month arrives
        cur.execute("select tableoid::regclass::text, count(*) from raw.stream_events group by 1 order by 1")
        assert cur.fetchall() == [("raw.stream_events_2026_10", 1), ("raw.stream_events_2026_11", 1),
                                  ("raw.stream_events_2026_12", 1)]
    # switching an existing unpartitioned table is refused with one sentence
    with partitioned.connect() as conn, conn.cursor() as cur:
        cur.execute("drop table raw.stream_events cascade")
    warehouse.bootstrap()
    with pytest.raises(UserError, match="already exists without partitions"):
        partitioned.bootstrap()
