"""Drills through the command line: the event buffer's disk fills up, or its directory stops being writable.

``forkalytics stream`` must stop with one clear sentence (no traceback) rather than go on receiving events it
cannot keep, and every event it acknowledged must be in the buffer: the events it kept are exactly the first
ones the instance sent, with no gap (``tests/extract/test_spool.py`` covers the buffer itself).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from extract.spool import read_segment
from tests.helpers import make_config, start_simulator, start_streamer_process, version_key, wait_for, write_config

pytestmark = pytest.mark.slow
STREAM = "public"


@contextlib.contextmanager
def _small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def _immutable(directory: Path) -> Iterator[None]:
    """As root (which ignores file modes) chattr +i; otherwise chmod."""
    import os
    import stat

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


def _buffered_keys(spool: Path) -> list[tuple[str, str, str]]:
    keys = []
    for segment in sorted(spool.glob("*.ready")) + sorted(spool.glob("*.open")):
        keys += [version_key(e.event_type, (e.payload or b"").decode()) for e in read_segment(segment).events]
    return keys


def _stream_until_it_stops(sim, process: subprocess.Popen, log: Path, limit: int) -> None:
    assert sim.wait_for_connections(1, timeout=60, stream=STREAM), log.read_text()
    sent = 0
    while process.poll() is None and sent < limit:
        sim.emit(25)
        sent += 25
        time.sleep(0.05)
    wait_for(lambda: process.poll() is not None, timeout=60, what="the streamer to stop")


def _assert_stopped_clearly(process: subprocess.Popen, log: Path, reason: str) -> str:
    output = log.read_text()
    assert process.returncode not in (0, None), output  # a supervisor must notice
    assert "Traceback" not in output, output
    assert reason in output and "no received event is dropped" in output, output
    return output


def _assert_kept_a_prefix(sim, spool: Path) -> int:
    kept = _buffered_keys(spool)
    sent = [version_key(e.event, e.data) for e in sim.ground_truth().events if STREAM in e.written_to]
    assert kept, "the buffer holds what was received before the error"
    assert kept == sent[:len(kept)], "an event was dropped before the stream stopped"
    return len(kept)


def test_full_disk_stops_the_stream_and_keeps_every_received_event(tmp_path: Path, monkeypatch, spawned):
    from tests.helpers import TOKEN, TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sim = start_simulator("drill-disk.example", 51)
    try:
        with _small_disk(tmp_path / "state", "2m") as state:
            config = make_config(tmp_path, [(sim.url, [STREAM])], batch_max_events=50, batch_max_seconds=60)
            config_path = write_config(tmp_path, config, "postgresql://unused@127.0.0.1:1/unused")
            text = config_path.read_text().replace(str(config.state_dir), str(state))
            config_path.write_text(text)
            log = tmp_path / "stream.log"
            process = spawned(start_streamer_process(config_path, "postgresql://unused@127.0.0.1:1/unused", log,
                                                     "--no-load"))
            _stream_until_it_stops(sim, process, log, limit=5000)
            _assert_stopped_clearly(process, log, "the disk is full")
            kept = _assert_kept_a_prefix(sim, state / "spool")
            assert kept > 100
    finally:
        sim.stop()


def test_buffer_directory_becoming_unwritable_stops_the_stream(tmp_path: Path, monkeypatch, spawned):
    from tests.helpers import TOKEN, TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sim = start_simulator("drill-perm.example", 53)
    try:
        config = make_config(tmp_path, [(sim.url, [STREAM])], batch_max_events=50, batch_max_seconds=60)
        config_path = write_config(tmp_path, config, "postgresql://unused@127.0.0.1:1/unused")
        log = tmp_path / "stream.log"
        process = spawned(start_streamer_process(config_path, "postgresql://unused@127.0.0.1:1/unused", log,
                                                     "--no-load"))
        assert sim.wait_for_connections(1, timeout=60, stream=STREAM), log.read_text()
        sim.emit(30)
        sent = sum(1 for e in sim.ground_truth().events if STREAM in e.written_to)
        spool = config.state_dir / "spool"
        wait_for(lambda: len(_buffered_keys(spool)) >= sent, timeout=30, what="the first events to be buffered")
        with _immutable(spool):
            _stream_until_it_stops(sim, process, log, limit=2000)
        _assert_stopped_clearly(process, log, "permission denied")
        _assert_kept_a_prefix(sim, spool)
    finally:
        sim.stop()


def test_unwritable_state_directory_is_refused_before_streaming(tmp_path: Path, monkeypatch, spawned):
    from tests.helpers import TOKEN, TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sim = start_simulator("drill-perm2.example", 55)
    try:
        config = make_config(tmp_path, [(sim.url, [STREAM])])
        config_path = write_config(tmp_path, config, "postgresql://unused@127.0.0.1:1/unused")
        config.state_dir.mkdir(parents=True)
        log = tmp_path / "stream.log"
        with _immutable(config.state_dir):
            process = spawned(start_streamer_process(config_path, "postgresql://unused@127.0.0.1:1/unused", log,
                                                     "--no-load"))
            assert process.wait(timeout=60) not in (0, None)
        output = log.read_text()
        assert "Traceback" not in output and "permission denied" in output, output
        assert sim.connections() == [], "nothing is received that could not be kept"
    finally:
        sim.stop()
