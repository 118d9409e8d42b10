"""The configuration file (YAML) parsed once into typed, validated objects.

Secrets never live in the file: each instance names the *environment variable* that holds its access token,
and the warehouse URL of an external server is read from an environment variable too. Every problem is
reported as one sentence through :class:`ConfigError` (exit code 2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from enrichment.settings import EnrichmentSettings
from extract.consent import PrivacyPolicy
from orchestration.errors import ConfigError
from orchestration.warehouse import WarehouseSettings

CONFIG_ENV = "FORKALYTICS_CONFIG"
DEFAULT_CONFIG_NAMES = ("forkalytics.yml", "forkalytics.yaml")
DATABASE_URL_ENV = "FORKALYTICS_DATABASE_URL"
STREAM_PATTERN = re.compile(
    r"^(public|public:local|public:remote|hashtag:[^\s/:?#&]+|hashtag:local:[^\s/:?#&]+|list:\d+)$"
)
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class InstanceConfig:
    """One monitored Mastodon instance."""

    url: str
    streams: tuple[str, ...]
    access_token_env: str | None = None

    @property
    def instance_id(self) -> str:
        """The instance-scoped key used in every table: the host (and port when not the default)."""
        return instance_id_for(self.url)

    @property
    def access_token(self) -> str | None:
        if not self.access_token_env:
            return None
        value = os.environ.get(self.access_token_env, "").strip()
        return value or None


@dataclass(frozen=True)
class ExtractConfig:
    """Streaming, buffering and back-fill settings."""

    batch_max_events: int = 5000
    batch_max_seconds: float = 5.0
    heartbeat_timeout_seconds: float = 40.0
    reconnect_initial_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    backfill_overlap_seconds: float = 900.0
    backfill_page_size: int = 40
    backfill_on_start_hours: float = 0.0
    fsync_interval_seconds: float = 0.5


@dataclass(frozen=True)
class PollTier:
    """Posts younger than ``max_age_minutes`` are refreshed every ``every_minutes``."""

    max_age_minutes: float
    every_minutes: float


DEFAULT_POLL_TIERS = (PollTier(60, 5), PollTier(360, 15), PollTier(2880, 60))
MAX_POLL_BATCH = 20  # Mastodon's GET /api/v1/statuses?id[]= answers at most 20 statuses


@dataclass(frozen=True)
class PollConfig:
    """Metric polling: which posts are refreshed, how often, and how much of the rate limit it may use."""

    horizon_hours: float = 48.0
    tiers: tuple[PollTier, ...] = DEFAULT_POLL_TIERS
    batch_size: int = MAX_POLL_BATCH
    budget_share: float = 0.5
    confirm_missing_after_minutes: float = 5.0
    cycle_seconds: float = 60.0


@dataclass(frozen=True)
class RetentionConfig:
    """``forkalytics retention``: raw events older than ``raw_events_days`` are archived to ``archive_dir``
    (JSON Lines, gzip) and deleted once dbt has incorporated them; raw payloads of deleted posts are redacted.
    ``archive_dir`` None means ``state_dir/archive``."""

    raw_events_days: float = 30.0
    archive_dir: Path | None = None
    redact_deleted: bool = True


def _parse_retention(raw: Any, project_dir: Path) -> RetentionConfig:
    """The ``retention:`` section."""
    mapping = _expect(raw, "retention")
    defaults = RetentionConfig()
    _unknown_keys(mapping, set(defaults.__dataclass_fields__), "retention")
    archive_dir = mapping.get("archive_dir")
    if archive_dir is not None and (not isinstance(archive_dir, str) or not archive_dir.strip()):
        raise ConfigError("retention.archive_dir must be a directory path.")
    redact = mapping.get("redact_deleted", defaults.redact_deleted)
    if not isinstance(redact, bool):
        raise ConfigError(f"retention.redact_deleted must be true or false, not {redact!r}.")
    return RetentionConfig(
        raw_events_days=_positive(mapping, "raw_events_days", defaults.raw_events_days, "retention"),
        archive_dir=(project_dir / archive_dir.strip()).resolve() if archive_dir else None,
        redact_deleted=redact)


@dataclass(frozen=True)
class ScheduleConfig:
    """``forkalytics schedule``: how often a cycle runs, and when the daily jobs (summary, retention) run."""

    cycle_minutes: float = 5.0
    daily_at: str = "00:15"
    stream: bool = True
    poll: bool = True
    retention: bool = True


def _parse_schedule(raw: Any) -> ScheduleConfig:
    """The ``schedule:`` section."""
    mapping = _expect(raw, "schedule")
    defaults = ScheduleConfig()
    _unknown_keys(mapping, set(defaults.__dataclass_fields__), "schedule")
    daily_at = mapping.get("daily_at", defaults.daily_at)
    if not isinstance(daily_at, str) or not re.match(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", daily_at.strip()):
        raise ConfigError(f"schedule.daily_at must be a UTC time of day like \"00:15\", not {daily_at!r}.")
    flags = {}
    for key in ("stream", "poll", "retention"):
        value = mapping.get(key, getattr(defaults, key))
        if not isinstance(value, bool):
            raise ConfigError(f"schedule.{key} must be true or false, not {value!r}.")
        flags[key] = value
    return ScheduleConfig(cycle_minutes=_positive(mapping, "cycle_minutes", defaults.cycle_minutes, "schedule"),
                          daily_at=daily_at.strip(), **flags)


def _parse_privacy(raw: Any) -> PrivacyPolicy:
    """The ``privacy:`` section: each consent signal is a switch, all honoured by default (extract.consent)."""
    mapping = _expect(raw, "privacy")
    defaults = PrivacyPolicy()
    _unknown_keys(mapping, set(defaults.__dataclass_fields__), "privacy")
    flags = {}
    for key in defaults.__dataclass_fields__:
        value = mapping.get(key, getattr(defaults, key))
        if not isinstance(value, bool):
            raise ConfigError(f"privacy.{key} must be true or false, not {value!r}.")
        flags[key] = value
    return PrivacyPolicy(**flags)


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    source_path: Path | None
    project_dir: Path
    warehouse: WarehouseSettings
    state_dir: Path
    instances: tuple[InstanceConfig, ...] = ()
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    poll: PollConfig = field(default_factory=PollConfig)
    enrichment: EnrichmentSettings = field(default_factory=EnrichmentSettings)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)

    def instance(self, url_or_id: str) -> InstanceConfig:
        wanted = instance_id_for(url_or_id) if "://" in url_or_id else url_or_id
        for instance in self.instances:
            if instance.instance_id == wanted:
                return instance
        raise ConfigError(f"Instance {url_or_id!r} is not configured (configured: "
                          f"{', '.join(i.url for i in self.instances) or 'none'}).")


def normalise_instance_url(url: str) -> str:
    """``https://Mastodon.Social/`` -> ``https://mastodon.social``; a bare host gets ``https://``."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{url!r} is not an instance URL like https://mastodon.social.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{url!r} must be the instance's base URL, without a path or query.")
    host = parts.hostname.lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def instance_id_for(url: str) -> str:
    """The stable instance key: ``mastodon.social``, or ``127.0.0.1:8401`` for a non-default port."""
    parts = urlsplit(normalise_instance_url(url))
    default = {"http": 80, "https": 443}[parts.scheme]
    assert parts.hostname is not None
    return parts.hostname if parts.port in (None, default) else f"{parts.hostname}:{parts.port}"


def _expect(mapping: Any, where: str) -> dict:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where} must be a mapping of settings, not {type(mapping).__name__}.")
    return mapping


def _unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))}).")


def _number(mapping: dict, key: str, default: float, where: str, *, integer: bool = False,
            minimum: float = 0.0) -> Any:
    value = mapping.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where}.{key} must be {kind}, not {value!r}.")
    if value < minimum:
        raise ConfigError(f"{where}.{key} must be at least {minimum:g}, not {value!r}.")
    return value


def _parse_instance(raw: Any, index: int) -> InstanceConfig:
    where = f"instances[{index}]"
    if isinstance(raw, str):
        raw = {"url": raw}
    mapping = _expect(raw, where)
    _unknown_keys(mapping, {"url", "streams", "access_token_env"}, where)
    if not mapping.get("url") or not isinstance(mapping["url"], str):
        raise ConfigError(f"{where} needs a url, like https://mastodon.social.")
    url = normalise_instance_url(mapping["url"])
    streams = mapping.get("streams", ["public:local"])
    if isinstance(streams, str):
        streams = [streams]
    if not isinstance(streams, list) or not streams:
        raise ConfigError(f"{where}.streams must be a non-empty list such as [public:local, hashtag:python].")
    cleaned: list[str] = []
    for stream in streams:
        if not isinstance(stream, str) or not STREAM_PATTERN.match(stream.strip()):
            raise ConfigError(f"{where}.streams has {stream!r}; use public, public:local, public:remote, "
                              "hashtag:<tag> or list:<id>.")
        name = stream.strip()
        if name.startswith("hashtag:"):
            name = name.lower()
        if name not in cleaned:
            cleaned.append(name)
    token_env = mapping.get("access_token_env")
    if token_env is not None and (not isinstance(token_env, str) or not ENV_NAME_PATTERN.match(token_env)):
        raise ConfigError(f"{where}.access_token_env must name an environment variable (the token itself "
                          "never goes in the file).")
    return InstanceConfig(url=url, streams=tuple(cleaned), access_token_env=token_env)


def _positive(mapping: dict, key: str, default: float, where: str) -> float:
    value = _number(mapping, key, default, where)
    if value <= 0:
        raise ConfigError(f"{where}.{key} must be greater than 0, not {value!r}.")
    return value


def _parse_poll(raw: Any) -> PollConfig:
    """The ``poll:`` section: horizon, tiers by post age, batch size, rate-limit share, confirmation, cycle."""
    mapping = _expect(raw, "poll")
    defaults = PollConfig()
    _unknown_keys(mapping, set(defaults.__dataclass_fields__), "poll")
    horizon = _positive(mapping, "horizon_hours", defaults.horizon_hours, "poll")
    raw_tiers = mapping.get("tiers")
    if raw_tiers is None:  # the default tiers' last interval stretches to a longer horizon
        last = defaults.tiers[-1]
        tiers = defaults.tiers[:-1] + (PollTier(max(last.max_age_minutes, horizon * 60), last.every_minutes),)
    else:
        if not isinstance(raw_tiers, list) or not raw_tiers:
            raise ConfigError("poll.tiers must be a non-empty list like [{max_age_minutes: 60, every_minutes: 5}].")
        parsed: list[PollTier] = []
        for index, item in enumerate(raw_tiers):
            where = f"poll.tiers[{index}]"
            tier = _expect(item, where)
            _unknown_keys(tier, {"max_age_minutes", "every_minutes"}, where)
            if "max_age_minutes" not in tier or "every_minutes" not in tier:
                raise ConfigError(f"{where} needs both max_age_minutes and every_minutes.")
            parsed.append(PollTier(_positive(tier, "max_age_minutes", 0, where),
                                   _positive(tier, "every_minutes", 0, where)))
        for earlier, later in zip(parsed, parsed[1:], strict=False):
            if later.max_age_minutes <= earlier.max_age_minutes:
                raise ConfigError("poll.tiers must be listed by increasing max_age_minutes.")
        tiers = tuple(parsed)
    if tiers[-1].max_age_minutes < horizon * 60:
        raise ConfigError(f"poll.tiers end at {tiers[-1].max_age_minutes:g} minutes, before the horizon of "
                          f"{horizon:g} hours; extend the last tier's max_age_minutes to {horizon * 60:g}.")
    batch_size = _number(mapping, "batch_size", defaults.batch_size, "poll", integer=True, minimum=1)
    if batch_size > MAX_POLL_BATCH:
        raise ConfigError(f"poll.batch_size must be at most {MAX_POLL_BATCH}, Mastodon's limit per batch request.")
    share = _positive(mapping, "budget_share", defaults.budget_share, "poll")
    if share > 1:
        raise ConfigError(f"poll.budget_share is the share of the rate limit polling may use, between 0 and 1 "
                          f"(0.5 = half), not {share!r}.")
    return PollConfig(
        horizon_hours=horizon,
        tiers=tiers,
        batch_size=batch_size,
        budget_share=share,
        confirm_missing_after_minutes=_number(mapping, "confirm_missing_after_minutes",
                                              defaults.confirm_missing_after_minutes, "poll"),
        cycle_seconds=_number(mapping, "cycle_seconds", defaults.cycle_seconds, "poll", minimum=0.1),
    )


def find_config_file(explicit: str | os.PathLike | None = None) -> Path | None:
    """The file named on the command line, else ``$FORKALYTICS_CONFIG``, else ``./forkalytics.yml``."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"Configuration file {path} does not exist.")
        return path
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV} points to {path}, which does not exist.")
        return path
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name)
    return None


def load_config(explicit: str | os.PathLike | None = None) -> Config:
    """Read and validate the configuration; a missing file means the defaults (embedded warehouse, no instances)."""
    path = find_config_file(explicit)
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path} is not valid YAML{at}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read {path}: {exc}.") from None
    return parse_config(raw, path)


# The top-level sections of the configuration file (one per line: each is parsed by its own function).
ROOT_SECTIONS = (
    "warehouse",
    "state_dir",
    "instances",
    "extract",
    "poll",
    "enrichment",
    "schedule",
    "retention",
    "privacy",
)


def parse_config(raw: Any, path: Path | None = None) -> Config:
    where = str(path) if path else "the configuration"
    root = _expect(raw, where)
    _unknown_keys(root, set(ROOT_SECTIONS), where)
    project_dir = (path.parent if path else Path.cwd()).resolve()

    wh = _expect(root.get("warehouse"), "warehouse")
    _unknown_keys(wh, {"url_env", "data_dir", "port", "database", "partition_raw_by_month"}, "warehouse")
    partitioned = wh.get("partition_raw_by_month", False)
    if not isinstance(partitioned, bool):
        raise ConfigError("warehouse.partition_raw_by_month must be true or false.")
    url_env = wh.get("url_env", DATABASE_URL_ENV)
    if not isinstance(url_env, str) or not ENV_NAME_PATTERN.match(url_env):
        raise ConfigError("warehouse.url_env must name an environment variable holding a PostgreSQL URL.")
    url = os.environ.get(url_env, "").strip() or None
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{url_env} must be a PostgreSQL URL like postgresql://user:password@host:5432/db.")
    port = os.environ.get("FORKALYTICS_PG_PORT") or wh.get("port", 54329)
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ConfigError(f"warehouse.port must be a TCP port number, not {port!r}.") from None
    if not 1024 <= port <= 65535:
        raise ConfigError(f"warehouse.port must be between 1024 and 65535, not {port}.")
    database = wh.get("database", "forkalytics")
    if not isinstance(database, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", database):
        raise ConfigError("warehouse.database must be a plain database name such as forkalytics.")
    data_dir = os.environ.get("FORKALYTICS_PG_DATA") or wh.get("data_dir", ".forkalytics/warehouse")
    if not isinstance(data_dir, str):
        raise ConfigError("warehouse.data_dir must be a directory path.")
    warehouse = WarehouseSettings(url=url, data_dir=(project_dir / data_dir).resolve(), port=port,
                                  database=database, partition_raw_by_month=partitioned)

    state_dir = os.environ.get("FORKALYTICS_STATE_DIR") or root.get("state_dir", ".forkalytics/state")
    if not isinstance(state_dir, str):
        raise ConfigError("state_dir must be a directory path.")

    raw_instances = root.get("instances") or []
    if not isinstance(raw_instances, list):
        raise ConfigError("instances must be a list of instances, each with a url and streams.")
    instances = tuple(_parse_instance(item, i) for i, item in enumerate(raw_instances))
    ids = [i.instance_id for i in instances]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"Instance {duplicates[0]} is configured twice; list its streams under one entry.")

    ex = _expect(root.get("extract"), "extract")
    defaults = ExtractConfig()
    _unknown_keys(ex, set(defaults.__dataclass_fields__), "extract")
    extract = ExtractConfig(
        batch_max_events=_number(ex, "batch_max_events", defaults.batch_max_events, "extract",
                                 integer=True, minimum=1),
        batch_max_seconds=_number(ex, "batch_max_seconds", defaults.batch_max_seconds, "extract", minimum=0.05),
        heartbeat_timeout_seconds=_number(ex, "heartbeat_timeout_seconds", defaults.heartbeat_timeout_seconds,
                                          "extract", minimum=0.5),
        reconnect_initial_seconds=_number(ex, "reconnect_initial_seconds", defaults.reconnect_initial_seconds,
                                          "extract", minimum=0.01),
        reconnect_max_seconds=_number(ex, "reconnect_max_seconds", defaults.reconnect_max_seconds, "extract",
                                      minimum=0.01),
        backfill_overlap_seconds=_number(ex, "backfill_overlap_seconds", defaults.backfill_overlap_seconds,
                                         "extract"),
        backfill_page_size=_number(ex, "backfill_page_size", defaults.backfill_page_size, "extract",
                                   integer=True, minimum=1),
        backfill_on_start_hours=_number(ex, "backfill_on_start_hours", defaults.backfill_on_start_hours,
                                        "extract"),
        fsync_interval_seconds=_number(ex, "fsync_interval_seconds", defaults.fsync_interval_seconds, "extract"),
    )
    if extract.backfill_page_size > 40:
        raise ConfigError("extract.backfill_page_size must be at most 40, Mastodon's page limit.")
    return Config(
        source_path=path,
        project_dir=project_dir,
        warehouse=warehouse,
        state_dir=(project_dir / state_dir).resolve(),
        instances=instances,
        extract=extract,
        poll=_parse_poll(root.get("poll")),
        enrichment=EnrichmentSettings.from_mapping(root.get("enrichment")),
        schedule=_parse_schedule(root.get("schedule")),
        retention=_parse_retention(root.get("retention"), project_dir),
        privacy=_parse_privacy(root.get("privacy")),
    )
