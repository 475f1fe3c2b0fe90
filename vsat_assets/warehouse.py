"""The DuckDB warehouse: one file, a schema per lineage stage, transactional window writes."""

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dagster import ConfigurableResource
from pydantic import Field

from vsat_assets import settings
from vsat_assets.sql_runner.models import sql_literal
from vsat_assets.sql_runner.storage import table_exists, transaction  # noqa: F401 (the warehouse's too)

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

_log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ops")

# Operational registers: never partitioned, never rebuilt; rows are only added
# (and, for retention, personal columns blanked).
OPS_TABLES = {
    "ops.opt_out_register": """(
        person_key VARCHAR,          -- pseudonym of the victim's person id, when known
        phone_key VARCHAR,           -- pseudonym of the normalised UK phone number, when known
        opted_out_on DATE NOT NULL,
        channel VARCHAR NOT NULL,    -- CONTRACTOR_RETURNS or EMAIL
        source VARCHAR,              -- returns file name, or the request's reference
        recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        CHECK (person_key IS NOT NULL OR phone_key IS NOT NULL)
    )""",
    "ops.contact_history": """(
        person_key VARCHAR NOT NULL,
        survey_id VARCHAR NOT NULL,
        sampling_month DATE NOT NULL,
        handed_off_on DATE NOT NULL,
        recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    "ops.handoff_log": """(
        sampling_month DATE PRIMARY KEY,
        file VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        sha256 VARCHAR NOT NULL,
        layout_version INTEGER NOT NULL,
        written_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP,             -- set once the file has gone to the contractor
        purged_at TIMESTAMP,           -- set when retention removed the file from the outbox
        sent_host_key VARCHAR          -- SHA256 fingerprint of the SFTP server it was uploaded to and verified on
    )""",
    "ops.retention_log": """(
        as_of DATE NOT NULL,
        retention_days INTEGER NOT NULL,
        purged_before DATE NOT NULL,   -- contact windows closed before this day hold no names or phones
        ran_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    # Sent months re-opened by an operator (`python -m vsat_assets.defs.handoff reopen`): who, when, why.
    "ops.handoff_reopenings": """(
        sampling_month DATE NOT NULL,
        reopened_at TIMESTAMP NOT NULL,
        reopened_by VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        was_sent_at TIMESTAMP NOT NULL,
        sha256 VARCHAR NOT NULL,
        rows BIGINT NOT NULL
    )""",
    "ops.returns_quarantine": """(
        sampling_month DATE NOT NULL,
        file VARCHAR NOT NULL,
        row_number BIGINT NOT NULL,    -- 1-based data row of the returns file
        survey_id VARCHAR,
        column_name VARCHAR,
        reason VARCHAR NOT NULL
    )""",
}

# Columns added after a table was first created: applied to warehouses made before them.
OPS_MIGRATIONS = (
    "ALTER TABLE ops.handoff_log ADD COLUMN IF NOT EXISTS sent_host_key VARCHAR",
    # WRITING from the logged intent until file and manifest are in the outbox (handoff/recovery.py)
    "ALTER TABLE ops.handoff_log ADD COLUMN IF NOT EXISTS status VARCHAR DEFAULT 'WRITTEN'",
    "ALTER TABLE ops.handoff_log ADD COLUMN IF NOT EXISTS file_sha256 VARCHAR",  # the outbox file's bytes
    # set just before an SFTP upload makes the month's file visible to the contractor (handoff/delivery.py)
    "ALTER TABLE ops.handoff_log ADD COLUMN IF NOT EXISTS upload_started_at TIMESTAMP",
)


@contextmanager
def writer_lock(database: str | Path, wait_seconds: float = 3600) -> Iterator[None]:
    """Hold the warehouse's writer lock (`<file>.lock`) while writing.

    DuckDB lets one process write a file at a time and fails the others at once.
    Every writer (each step of every run, the command-line tools) takes this lock
    first, so two runs launched together both succeed, one step after another.
    """
    lock_path = Path(f"{database}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        started = next_note = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now - started > wait_seconds:
                    raise TimeoutError(f"waited {now - started:.0f} s for another writer of {database}") from None
                if now >= next_note:
                    _log.warning("waiting for another run to finish writing %s", database)
                    next_note = now + 30
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class WarehouseResource(ConfigurableResource):
    """The warehouse file as a resource (as dagster-duckdb's DuckDBResource, written here so that
    DuckDB is imported by the steps that connect, not at code-location load). Connections wait for
    the writer lock instead of failing on it, and refuse to open without a usable pseudonym key
    (vsat_assets/keys.py)."""

    database: str = Field(description="Path of the DuckDB file, or ':memory:'.")
    connection_config: dict = Field(default={}, description="DuckDB settings for each connection.")

    def _config(self) -> dict:
        return {"custom_user_agent": "dagster", **self.connection_config}

    @contextmanager
    def get_connection(self):
        """A connection under the writer lock, of its own but on the process's DuckDB instance for
        the file (`_attached`). Inside another `get_connection` of the same file in this thread it
        is that same connection (a check run over 12 months takes the lock and attaches the file
        once, not 12 times). The inner one's exit neither commits nor closes: open a transaction in
        one of the two, not both."""
        open_here = _open_connections.__dict__.setdefault("by_database", {})
        shared = self.database != ":memory:"  # ':memory:' is a new database per connection
        path = os.path.realpath(self.database) if shared else None
        if path in open_here:
            yield open_here[path]
            return
        # No step of any run touches the warehouse without a usable pseudonym key (PseudonymKeyError).
        settings.key_ring()
        if not shared:
            import duckdb
            with closing(duckdb.connect(":memory:", config=self._config())) as conn:
                yield conn
            return
        with writer_lock(self.database), _attached(path, self._config()) as conn:
            open_here[path] = conn
            try:
                yield conn
            finally:
                open_here.pop(path, None)


def _retry_opening(open_file: "Callable[[], T]") -> T:
    """Another process closing the file: retry a few times, as dagster-duckdb's DuckDBResource does."""
    import duckdb
    for attempt in range(9):
        try:
            return open_file()
        except (RuntimeError, duckdb.IOException):
            time.sleep(0.1 * 2**attempt)
    return open_file()


# Starting a DuckDB instance takes ~25-35 ms (even for ':memory:'); attaching a file to a running
# one ~2 ms, and a Dagster run opens the warehouse once a step. So a process keeps a DuckDB instance
# for the warehouse file and settings it last used, and each get_connection attaches the file to it
# as the default database, on a connection (cursor) of its own. What a step makes on its connection
# ends with it, as when it had an instance of its own: its variables (the keyed pseudonym's pads),
# temp macros and tables, registered frames and open transaction (rolled back); the file and
# whatever else it attached are detached at its end, so other processes can open them between
# steps. Instance-wide, and so seen by the process's later steps, are global SETs, Python
# functions (create_function), loaded extensions, secrets and tables of the instance's own
# `memory` catalog (where a `conn.cursor()` of the step's connection starts): no step uses them.
_instances: "dict[tuple, duckdb.DuckDBPyConnection]" = {}
_attached_now: dict[tuple, int] = {}  # instances with a file attached, by key: never closed then
_instances_lock = threading.Lock()
_CATALOGS_OF_THE_INSTANCE = ("memory", "system", "temp")


def _instance(key: tuple, config: dict) -> "duckdb.DuckDBPyConnection":
    import duckdb

    with _instances_lock:
        if key not in _instances:
            # One idle instance at most (a test process uses a new file per test): each holds
            # ~4 MB and its threads.
            for idle in [k for k in _instances if k not in _attached_now and k[0] == os.getpid()]:
                _instances.pop(idle).close()
            _instances[key] = duckdb.connect(":memory:", config=config)
        _attached_now[key] = _attached_now.get(key, 0) + 1
        return _instances[key]


def _release(key: tuple, instance: "duckdb.DuckDBPyConnection") -> None:
    """Detach everything the step's connection attached; if that fails, close the instance,
    which releases every file it holds."""
    try:
        attached = instance.execute("SELECT database_name FROM duckdb_databases() WHERE database_name NOT IN ?",
                                    [list(_CATALOGS_OF_THE_INSTANCE)]).fetchall()
        for (name,) in attached:
            instance.execute(f'DETACH "{name.replace(chr(34), chr(34) * 2)}"')
    except BaseException:
        with _instances_lock:
            _instances.pop(key, None)
        instance.close()
        raise
    finally:
        with _instances_lock:
            _attached_now[key] -= 1
            if not _attached_now[key]:
                del _attached_now[key]


@contextmanager
def _attached(path: str, config: dict) -> "Iterator[duckdb.DuckDBPyConnection]":
    # A plain connect spills to '<file>.tmp'; an instance without a file would spill to './.tmp'.
    config = {"temp_directory": f"{path}.tmp", **config}
    key = (os.getpid(), path, tuple(sorted(config.items())))
    instance = _instance(key, config)
    # the catalog a plain duckdb.connect(path) has, where the instance's own names leave it free
    name = Path(path).name.split(".")[0]
    catalog = name if '"' not in name and name.lower() not in _CATALOGS_OF_THE_INSTANCE else "warehouse"
    try:
        _retry_opening(lambda: instance.execute(f'ATTACH {sql_literal(path)} AS "{catalog}"'))
        conn = instance.cursor()
        try:
            conn.execute(f'USE "{catalog}"')
            yield conn
        finally:
            conn.close()
    finally:
        _release(key, instance)


# The connection each thread holds open per database file (WarehouseResource.get_connection).
_open_connections = threading.local()


class MissingWarehouseError(FileNotFoundError):
    """A command-line tool pointed at a warehouse that does not exist (e.g. a mistyped VSAT_DATA_DIR)."""


def existing_warehouse(path: str | Path | None = None) -> Path:
    """The warehouse file, which must already exist: command-line tools never create one, so a
    mistyped VSAT_DATA_DIR cannot send an opt-out (or a `sent`) to a new, empty warehouse."""
    path = Path(path or settings.warehouse_path())
    if not path.is_file():
        raise MissingWarehouseError(
            f"{path}: no warehouse there (check VSAT_DATA_DIR; a warehouse is made by the monthly job "
            "or `make demo`, never by a command-line tool)")
    return path


@contextmanager
def open_existing_warehouse(path: str | Path | None = None) -> "Iterator[duckdb.DuckDBPyConnection]":
    """A writer connection to an existing warehouse, under the writer lock; MissingWarehouseError
    (and nothing created on disk, not even the lock file) when there is none."""
    import duckdb

    path = existing_warehouse(path)
    with writer_lock(path):
        existing_warehouse(path)  # removed while this tool waited for the lock: still create nothing
        with duckdb.connect(str(path), config=settings.duckdb_config()) as conn:
            yield conn


def warehouse_resource(path: str | None = None) -> WarehouseResource:
    return WarehouseResource(
        database=str(path or settings.warehouse_path()),
        connection_config=settings.duckdb_config(),
    )


# A sent month is settled: its sample and hand-off stay as sent. The models read this view
# (a source with no upstream asset), not ops.handoff_log, which the hand-off writes downstream.
# A month whose SFTP upload has begun counts as sent: the contractor may already hold its file.
SENT_MONTHS_VIEW = """CREATE OR REPLACE VIEW ops.sent_months AS
    SELECT sampling_month, coalesce(sent_at, upload_started_at) AS sent_at FROM ops.handoff_log
    WHERE sent_at IS NOT NULL OR upload_started_at IS NOT NULL"""


def ensure_schemas(conn: "duckdb.DuckDBPyConnection") -> None:
    for schema in SCHEMAS:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, columns in OPS_TABLES.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} {columns}")
    for migration in OPS_MIGRATIONS:
        conn.execute(migration)
    conn.execute(SENT_MONTHS_VIEW)


def replace_window(
    conn: "duckdb.DuckDBPyConnection",
    table: str,
    date_column: str,
    start: date,
    end: date,
    insert: "Callable[[duckdb.DuckDBPyConnection], T]",
) -> T:
    """Delete the rows of `table` with `start <= date_column < end`, then run `insert`.

    Both happen in one transaction: a re-run replaces the window, and a failure
    anywhere leaves the previous rows in place. Returns what `insert` returns.
    """
    with transaction(conn):
        conn.execute(f"DELETE FROM {table} WHERE {date_column} >= ? AND {date_column} < ?", [start, end])
        return insert(conn)


def scalar(conn: "duckdb.DuckDBPyConnection", sql: str, params=None):
    """The single value a query returns. Fetches the whole result, so the connection is free
    for register() and the like (DuckDB refuses them while a result is half-read)."""
    return conn.execute(sql, params or []).fetchall()[0][0]
