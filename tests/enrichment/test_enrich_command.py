"""``forkalytics enrich`` on the command line: offline by default (and says so), tasks, errors in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.cli import main


def _config(tmp_path: Path, dsn: str, monkeypatch: pytest.MonkeyPatch, enrichment: dict | None = None,
            name: str = "forkalytics.yml") -> str:
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", dsn)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    raw: dict = {"state_dir": str(tmp_path / "state")}
    if enrichment is not None:
        raw["enrichment"] = enrichment
    path = tmp_path / name
    path.write_text(json.dumps(raw))
    return str(path)


def test_enrich_without_a_key_uses_the_offline_providers_and_says_so(marts_db, tmp_path, monkeypatch,
                                                                    capsys) -> None:
    config = _config(tmp_path, marts_db.dsn, monkeypatch)
    assert main(["--config", config, "enrich", "--task", "sentiment"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("enrich: no LLM endpoint is configured (enrichment.llm), so sentiment uses the offline "
                      "providers (VADER sentiment, extractive daily summaries, co-occurrence topics).")
    assert any(line.startswith("sentiment: ") and " scored, " in line for line in out)
    assert any(line.startswith("sentiment provider: offline (vader-") for line in out)
    eligible = marts_db.scalar("select count(*) from marts.post_versions where not is_post_deleted")
    assert marts_db.scalar("select count(*) from enrichment.post_sentiments") == eligible
    assert marts_db.scalar("select count(*) from enrichment.daily_summaries") == 0  # --task: only sentiment

    assert main(["--config", config, "enrich", "--task", "sentiment"]) == 0
    assert "0 sent" in capsys.readouterr().out


def test_enrich_with_an_llm_endpoint_but_no_key(marts_db, tmp_path, monkeypatch, capsys) -> None:
    config = _config(tmp_path, marts_db.dsn, monkeypatch, {"llm": {"kind": "openai"}})
    assert main(["--config", config, "enrich", "--task", "sentiment"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(
        "enrich: the LLM key variable OPENAI_API_KEY is not set, so sentiment uses the offline providers")

    config = _config(tmp_path, marts_db.dsn, monkeypatch, {"llm": {"kind": "openai"},
                                                           "sentiment": {"provider": "llm"}}, name="llm.yml")
    assert main(["--config", config, "enrich", "--task", "sentiment"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("forkalytics: enrichment.sentiment.provider is 'llm' but the LLM key variable OPENAI_API_KEY "
                   "is not set.")


def test_enrich_errors_are_one_sentence(marts_db, tmp_path, monkeypatch, capsys) -> None:
    config = _config(tmp_path, marts_db.dsn, monkeypatch)
    assert main(["--config", config, "enrich", "--day", "yesterday"]) == 2
    assert capsys.readouterr().err.strip() == "forkalytics: --day 'yesterday' is not a date like 2026-11-25."

    bad = _config(tmp_path, marts_db.dsn, monkeypatch, {"summaries": {"time_zone": "Mars/Olympus"}},
                  name="bad.yml")
    assert main(["--config", bad, "enrich"]) == 2
    assert "is not a known IANA time zone" in capsys.readouterr().err

    marts_db.query("drop schema marts cascade")
    assert main(["--config", config, "enrich"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist yet" in err[0]
