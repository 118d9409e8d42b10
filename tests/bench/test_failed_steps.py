"""A benchmark step that fails stops the run with what failed: a dbt build that failed (a model, a test, a full
disk) took a time that measures nothing, and the steps after it would read a broken warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import BenchError, _dbt_build


class _Runner:
    """Stands in for the child-process runner: returns the figure a step printed."""

    def __init__(self, figure: dict) -> None:
        self.figure, self.calls = figure, []

    def run(self, label: str, name: str, **arguments: object) -> dict:
        self.calls.append((label, name, arguments))
        return self.figure


def test_a_failed_dbt_build_stops_the_run_with_its_summary_and_errors() -> None:
    runner = _Runner({"success": False, "seconds": 148.7,
                      "summary": "dbt build: failed (exit 1) (pass 155, warn 1, error 4, skip 121)",
                      "output_tail": 'could not extend file "base/43451/264281": No space left on device'})
    with pytest.raises(BenchError) as raised:
        _dbt_build(runner, "1,000,000: dbt build (full)", "postgresql://bench", Path("state"), ["build"])
    message = str(raised.value)
    assert message.startswith("1,000,000: dbt build (full) failed (dbt build: failed (exit 1) (pass 155")
    assert "No space left on device" in message
    assert runner.calls == [("1,000,000: dbt build (full)", "dbt",
                             {"dsn": "postgresql://bench", "state_dir": "state", "args": ["build"]})]


def test_a_successful_dbt_build_is_a_figure() -> None:
    figure = {"success": True, "seconds": 30.0, "summary": "dbt build: ok (pass 40) in 30 s", "output_tail": ""}
    assert _dbt_build(_Runner(figure), "100: dbt build (full)", "dsn", Path("s"), ["build"]) is figure
