"""``forkalytics status``: per instance, is data flowing, and is the warehouse keeping up?

Facts come from three places: the streamer's status file (``state_dir/stream_status.json``, rewritten every
two seconds while it runs), the warehouse (what was loaded, when, how late), and the state directory (event
buffer segments waiting, the last ELT cycle). A stream is *stalled* when its streamer runs but it has
received nothing — not even a heartbeat — for longer than the heartbeat timeout.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg2

from orchestration.config import Config
from orchestration.warehouse import Warehouse

CYCLE_LOG = "cycles.jsonl"
# Same thresholds as the dbt source freshness of raw.stream_events (vars freshness_*_after_hours).
FRESH_WARN_SECONDS = 3600.0
FRESH_ERROR_SECONDS = 24 * 3600.0
ENRICHMENT_TABLES = (("post_sentiments", "last_attempt_at"), ("daily_summaries", "last_attempt_at"),
                     ("hourly_topic_runs", "last_attempt_at"))


@dataclass
class InstanceStatus:
    instance_id: str
    state: str = "idle"
    last_event_at: str | None = None
    events_last_hour: int = 0
    events_per_minute: float = 0.0
    gap_recoveries: int = 0
    backfilled_last_day: int = 0
    load_lag_seconds: float | None = None
    newest_event_age_seconds: float | None = None
    payload_errors_last_day: int = 0
    failed_enrichment: int | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Status:
    generated_at: str
    streamer_running: bool
    buffered_segments: int
    last_cycle: dict[str, Any] | None
    instances: list[InstanceStatus]
    warehouse_error: str | None = None
    last_successful_cycle_at: str | None = None
    source_freshness: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _cycles_newest_first(state_dir: Path):
    try:
        lines = (state_dir / CYCLE_LOG).read_text().strip().splitlines()
    except OSError:
        return
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def last_cycle(state_dir: Path) -> dict[str, Any] | None:
    """The newest cycle recorded by ``orchestration.cycle.run_cycle`` (``state_dir/cycles.jsonl``)."""
    return next(_cycles_newest_first(state_dir), None)


def last_successful_cycle(state_dir: Path) -> dict[str, Any] | None:
    return next((c for c in _cycles_newest_first(state_dir) if c.get("success")), None)


def _process_alive(pid: Any) -> bool:
    import os

    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def collect(config: Config, warehouse: Warehouse, now: datetime | None = None) -> Status:
    now = now or datetime.now(timezone.utc)
    stream_file = _read_json(config.state_dir / "stream_status.json") or {}
    running = bool(stream_file.get("running")) and _process_alive(stream_file.get("pid"))
    segments = sum(len(list(p.glob("*.ready"))) + len(list(p.glob("*.open")))
                   for p in config.state_dir.glob("spool*") if p.is_dir())
    by_instance: dict[str, InstanceStatus] = {i.instance_id: InstanceStatus(i.instance_id) for i in config.instances}
    stall_after = config.extract.heartbeat_timeout_seconds

    for stream in stream_file.get("streams", []):
        status = by_instance.setdefault(stream["instance_id"], InstanceStatus(stream["instance_id"]))
        last_data = stream.get("last_data_at")
        silent_for = (now - datetime.fromisoformat(last_data)).total_seconds() if last_data else None
        if stream.get("failed"):
            state = "failed"
        elif not running:
            state = "stopped"
        elif silent_for is None or silent_for > stall_after:
            state = "stalled"
        else:
            state = "streaming"
        status.streams.append({"stream": stream["stream"], "state": state, "events": stream.get("events", 0),
                               "reconnects": stream.get("reconnects", 0), "silent_seconds": silent_for,
                               "error": stream.get("failed")})
        status.gap_recoveries += int(stream.get("gap_backfills", 0))
        if stream.get("last_event_at") and (status.last_event_at is None
                                            or stream["last_event_at"] > status.last_event_at):
            status.last_event_at = stream["last_event_at"]
    for status in by_instance.values():
        states = {s["state"] for s in status.streams}
        for candidate in ("failed", "stalled", "streaming", "stopped"):
            if candidate in states:
                status.state = candidate
                break

    warehouse_error = None
    freshness: dict[str, Any] = {}
    try:
        conn = psycopg2.connect(warehouse.dsn, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        warehouse_error = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
        conn = None
    if conn is not None:
        try:
            with conn.cursor() as cur:
                cur.execute("""
                    select instance_id,
                           max(received_at),
                           count(*) filter (where received_at > %(now)s - interval '1 hour'),
                           count(*) filter (where received_at > %(now)s - interval '5 minutes'),
                           count(*) filter (where source = 'backfill' and received_at > %(now)s - interval '1 day'),
                           count(*) filter (where payload_error is not null
                                            and received_at > %(now)s - interval '1 day')
                    from raw.stream_events
                    where received_at > %(now)s - interval '1 day'
                    group by instance_id
                """, {"now": now})
                for instance_id, newest, hour, five, backfilled, errors in cur.fetchall():
                    status = by_instance.setdefault(instance_id, InstanceStatus(instance_id))
                    status.newest_event_age_seconds = (now - newest).total_seconds()
                    status.events_last_hour = hour
                    status.events_per_minute = round(five / 5.0, 1)
                    status.backfilled_last_day = backfilled
                    status.payload_errors_last_day = errors
                cur.execute("""
                    select distinct on (instance_id) instance_id,
                           extract(epoch from to_timestamp(_dlt_load_id::double precision) - received_at)
                    from raw.stream_events
                    where received_at > %(now)s - interval '1 day' and _dlt_load_id ~ '^[0-9.]+$'
                    order by instance_id, received_at desc
                """, {"now": now})
                for instance_id, lag in cur.fetchall():
                    by_instance[instance_id].load_lag_seconds = round(float(lag), 1) if lag is not None else None
                # Source freshness: the newest event of every instance, however old.
                cur.execute("select instance_id, max(received_at) from raw.stream_events group by instance_id")
                for instance_id, newest in cur.fetchall():
                    age = (now - newest).total_seconds()
                    status = by_instance.setdefault(instance_id, InstanceStatus(instance_id))
                    status.newest_event_age_seconds = age
                    state = "ok" if age <= FRESH_WARN_SECONDS else ("warn" if age <= FRESH_ERROR_SECONDS else "error")
                    freshness[f"raw.stream_events {instance_id}"] = {"newest": newest.isoformat(),
                                                                     "age_seconds": round(age, 1), "state": state}
                failed: dict[str, int] = {}
                for table, time_column in ENRICHMENT_TABLES:
                    cur.execute("select to_regclass(%s) is not null", (f"enrichment.{table}",))
                    if not cur.fetchone()[0]:
                        continue
                    cur.execute(f"select instance_id, count(*) filter (where status = 'failed'), "  # noqa: S608
                                f"max({time_column}) from enrichment.{table} group by 1")
                    newest_attempt = None
                    for instance_id, count, newest in cur.fetchall():
                        failed[instance_id] = failed.get(instance_id, 0) + int(count)
                        newest_attempt = newest if newest_attempt is None else max(newest_attempt, newest)
                    if newest_attempt is not None:
                        freshness[f"enrichment.{table}"] = {
                            "newest": newest_attempt.isoformat(),
                            "age_seconds": round((now - newest_attempt).total_seconds(), 1)}
                    for status in by_instance.values():
                        status.failed_enrichment = int(failed.get(status.instance_id, 0))
        except psycopg2.Error as exc:
            warehouse_error = str(exc).strip().splitlines()[0]
        finally:
            conn.close()

    return Status(generated_at=now.isoformat(), streamer_running=running, buffered_segments=segments,
                  last_cycle=last_cycle(config.state_dir), instances=list(by_instance.values()),
                  warehouse_error=warehouse_error,
                  last_successful_cycle_at=(last_successful_cycle(config.state_dir) or {}).get("finished_at"),
                  source_freshness=freshness)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render_table(status: Status) -> str:
    header = ("instance", "state", "last event", "ev/min", "ev/1h", "gaps", "backfilled", "load lag",
              "errors 24h", "enrich fails")
    rows = [header]
    for s in status.instances:
        age = None
        if s.last_event_at:
            generated = datetime.fromisoformat(status.generated_at)
            age = (generated - datetime.fromisoformat(s.last_event_at)).total_seconds()
        elif s.newest_event_age_seconds is not None:
            age = s.newest_event_age_seconds
        rows.append((s.instance_id, s.state, _age(age) + (" ago" if age is not None else ""),
                     f"{s.events_per_minute:g}", str(s.events_last_hour), str(s.gap_recoveries),
                     str(s.backfilled_last_day), _age(s.load_lag_seconds), str(s.payload_errors_last_day),
                     "-" if s.failed_enrichment is None else str(s.failed_enrichment)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    cycle = status.last_cycle
    lines.append("")
    if cycle:
        verdict = "ok" if cycle.get("success") else "failed: " + ", ".join(cycle.get("failed_steps") or [])
        cycle_text = f"{cycle.get('finished_at')} ({verdict})"
    else:
        cycle_text = "none"
    lines.append(f"streamer: {'running' if status.streamer_running else 'not running'}; "
                 f"buffered segments waiting: {status.buffered_segments}; last cycle: {cycle_text}"
                 + f"; last successful cycle: {status.last_successful_cycle_at or 'none'}")
    stale = [f"{name} ({_age(item['age_seconds'])} old)" for name, item in sorted(status.source_freshness.items())
             if item.get("state") in ("warn", "error")]
    if stale:
        lines.append("stale sources: " + ", ".join(stale))
    if status.warehouse_error:
        lines.append(f"warehouse: {status.warehouse_error}")
    for s in status.instances:
        for stream in s.streams:
            if stream["state"] in ("stalled", "failed"):
                detail = stream["error"] or f"nothing received for {_age(stream['silent_seconds'])}"
                lines.append(f"{s.instance_id} {stream['stream']}: {stream['state']}: {detail}")
    return "\n".join(lines)
