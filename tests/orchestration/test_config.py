"""Configuration: typed, validated, one clear sentence and exit code 2 when wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestration.config import instance_id_for, load_config, parse_config
from orchestration.errors import ConfigError

GOOD = """
instances:
  - url: https://Mastodon.Social/
    access_token_env: MASTO_TOKEN
    streams: [public:local, hashtag:Python, list:42]
  - url: http://127.0.0.1:8401
extract:
  batch_max_events: 100
"""


def test_valid_configuration_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "forkalytics.yml"
    path.write_text(GOOD)
    monkeypatch.setenv("MASTO_TOKEN", "secret")
    monkeypatch.delenv("FORKALYTICS_DATABASE_URL", raising=False)
    config = load_config(path)
    first, second = config.instances
    assert first.url == "https://mastodon.social" and first.instance_id == "mastodon.social"
    assert first.streams == ("public:local", "hashtag:python", "list:42")
    assert first.access_token == "secret"
    assert second.instance_id == "127.0.0.1:8401" and second.streams == ("public:local",)
    assert config.extract.batch_max_events == 100
    assert config.warehouse.embedded and config.warehouse.data_dir == tmp_path / ".forkalytics" / "warehouse"


def test_external_warehouse_from_environment(monkeypatch):
    monkeypatch.setenv("FORKALYTICS_DATABASE_URL", "postgresql://u:p@db.example:5432/wh")
    assert parse_config({}).warehouse.url == "postgresql://u:p@db.example:5432/wh"


@pytest.mark.parametrize(("raw", "message"), [
    ({"instances": [{"url": "ftp://x"}]}, "is not an instance URL"),
    ({"instances": [{"url": "https://a.example/path"}]}, "without a path"),
    ({"instances": [{"url": "https://a.example", "streams": ["firehose"]}]}, "use public, public:local"),
    ({"instances": [{"url": "https://a.example", "access_token": "x"}]}, "Unknown setting 'access_token'"),
    ({"instances": [{"url": "https://a.example", "access_token_env": "abc-def"}]}, "name an environment"),
    ({"instances": [{"url": "https://a.example"}, {"url": "https://A.example/"}]}, "configured twice"),
    ({"instances": {"url": "https://a.example"}}, "must be a list"),
    ({"extract": {"batch_max_events": "many"}}, "must be a whole number"),
    ({"extract": {"backfill_page_size": 80}}, "at most 40"),
    ({"warehouse": {"port": 80}}, "between 1024 and 65535"),
    ({"surprise": 1}, "Unknown setting 'surprise'"),
    (["a", "list"], "must be a mapping"),
])
def test_bad_configuration_is_one_sentence(raw, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(raw)
    text = str(caught.value)
    assert text.endswith(".") and "\n" not in text
    assert caught.value.exit_code == 2


def test_instance_ids():
    assert instance_id_for("https://mastodon.social:443") == "mastodon.social"
    assert instance_id_for("http://localhost:8080") == "localhost:8080"


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_cli_bad_config_exits_2_without_traceback(tmp_path):
    (tmp_path / "bad.yml").write_text("instances:\n  - url: https://a.example\n    streams: [nope]\n")
    result = _cli("--config", str(tmp_path / "bad.yml"), "stream", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("forkalytics: ") and len(result.stderr.strip().splitlines()) == 1

    (tmp_path / "broken.yml").write_text("instances: [\n")
    result = _cli("--config", str(tmp_path / "broken.yml"), "db", "url", cwd=tmp_path)
    assert result.returncode == 2 and "not valid YAML" in result.stderr

    result = _cli("--config", str(tmp_path / "missing.yml"), "db", "url", cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_cli_stream_without_instances_is_a_config_error(tmp_path):
    (tmp_path / "empty.yml").write_text("instances: []\n")
    result = _cli("--config", str(tmp_path / "empty.yml"), "stream", "--no-load", cwd=tmp_path)
    assert result.returncode == 2 and "No Mastodon instances are configured" in result.stderr


def test_every_command_has_help(tmp_path):
    result = _cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("db", "stream", "backfill", "load", "simulate", "demo"):
        assert command in result.stdout
        sub = _cli(command, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and "usage: forkalytics" in sub.stdout
