"""What the runner needs of DuckDB besides the models: transactions, table lookups, its own log."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb


# The runner's record of the months each `month_by_month` model has built.
BUILT_MONTHS = "ops.built_months"
_BUILT_MONTHS_DDL = f"""CREATE TABLE IF NOT EXISTS {BUILT_MONTHS} (
    model VARCHAR NOT NULL,
    month DATE NOT NULL,
    built_at TIMESTAMP NOT NULL,
    PRIMARY KEY (model, month)
)"""


@contextmanager
def transaction(conn: "duckdb.DuckDBPyConnection") -> "Iterator[duckdb.DuckDBPyConnection]":
    """BEGIN ... COMMIT, rolled back on any error so stored rows stay as they were."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def table_exists(conn: "duckdb.DuckDBPyConnection", qualified_name: str) -> bool:
    schema, name = qualified_name.split(".")
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()[0]
    return found > 0


def ensure_built_months(conn: "duckdb.DuckDBPyConnection") -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BUILT_MONTHS.split('.')[0]}")
    conn.execute(_BUILT_MONTHS_DDL)
