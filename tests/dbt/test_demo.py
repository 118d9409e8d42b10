"""`forkalytics demo` end to end: two simulated instances streamed, one ELT cycle, rows per mart,
trending hashtags, sentiment and the day's summary printed."""

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

    assert [step.__name__ for step in REPORT_STEPS] == ["report_raw_events", "run_cycle_step", "report_mart_counts",
                                                        "report_trending", "report_enrichment"]
    summary = [m for m in messages if m.startswith("dbt build:")]
    assert len(summary) == 1 and summary[0].startswith("dbt build: ok: (pass ") and "error 0" in summary[0]
    assert any(m.startswith("enrich: ok") for m in messages), messages
    assert any(m.startswith("dbt build enrichment: ok") for m in messages), messages
    # one metric poll ran before the cycle, so engagement snapshots exist
    # trending: one line per scope and method, for both instances and fediverse-wide
    trending = [m for m in messages if re.match(r"^  \S+ \w+: ", m) and not m.startswith("  marts.")]
    assert any(line.startswith("  fediverse ") for line in trending), messages
    # the sentiment distribution and the day's summary come from the offline providers
    assert any("sentiment" in m.lower() for m in messages[messages.index(summary[0]):]), messages
    assert query(warehouse, "select count(*) from marts.post_sentiments")[0][0] > 0
    printed = dict(re.findall(r"^  marts\.(\w+)\s+([\d,]+)$", "\n".join(messages), re.MULTILINE))
    for mart in POPULATED_MARTS:
        count = query(warehouse, f'select count(*) from marts."{mart}"')[0][0]
        assert count > 0, mart
        assert int(printed[mart].replace(",", "")) == count, mart
    assert messages.index(summary[0]) < min(i for i, m in enumerate(messages) if m.startswith("  marts."))
