"""`forkalytics demo` end to end: two simulated instances streamed, `dbt build`, rows per mart printed."""

from __future__ import annotations

import re

import pytest

from orchestration.config import DATABASE_URL_ENV, parse_config
from orchestration.demo import POPULATED_MARTS, REPORT_STEPS, run_demo
from tests.helpers import query

pytestmark = pytest.mark.slow


def test_demo_ends_with_populated_marts_and_prints_their_counts(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, warehouse.dsn)
    config = parse_config({"state_dir": str(tmp_path / "state")}, tmp_path / "forkalytics.yml")
    messages: list[str] = []

    assert run_demo(config, seconds=8, say=messages.append) == 0

    assert [step.__name__ for step in REPORT_STEPS][:3] == ["report_raw_events", "build_marts", "report_mart_counts"]
    summary = [m for m in messages if m.startswith("dbt build:")]
    assert len(summary) == 1 and summary[0].startswith("dbt build: ok (pass ") and "error 0" in summary[0]
    printed = dict(re.findall(r"^  marts\.(\w+)\s+([\d,]+)$", "\n".join(messages), re.MULTILINE))
    for mart in POPULATED_MARTS:
        count = query(warehouse, f'select count(*) from marts."{mart}"')[0][0]
        assert count > 0, mart
        assert int(printed[mart].replace(",", "")) == count, mart
    assert messages.index(summary[0]) < min(i for i, m in enumerate(messages) if m.startswith("  marts."))
