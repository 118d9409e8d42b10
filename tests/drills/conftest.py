"""Drill fixtures: every process a drill starts is killed at the end, whatever happened."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def spawned() -> Iterator[Callable[[subprocess.Popen], subprocess.Popen]]:
    """``spawned(process)`` registers a process (returned unchanged); survivors are killed at teardown."""
    processes: list[subprocess.Popen] = []

    def register(process: subprocess.Popen) -> subprocess.Popen:
        processes.append(process)
        return process

    yield register
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # started in a session of its own
            except OSError:  # not a session leader, or already gone
                process.kill()
            process.wait(timeout=10)
