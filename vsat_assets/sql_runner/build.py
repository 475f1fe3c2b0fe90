"""Run one SQL model against DuckDB: no Dagster here, so the benchmark can call it bare."""

from datetime import date

import duckdb

from vsat_assets.privacy import PHONE_NORMALISE_SQL
from vsat_assets.sql_runner.column_tests import ColumnTest
from vsat_assets.sql_runner.models import Model, ModelError, render
from vsat_assets.warehouse import table_exists, transaction


def prepare_connection(conn: duckdb.DuckDBPyConnection) -> None:
    """Macros the models may call; temporary, so they live only on this connection."""
    conn.execute(f"CREATE OR REPLACE TEMP MACRO normalise_uk_phone(raw) AS {PHONE_NORMALISE_SQL.format(col='raw')}")


def _columns(conn: duckdb.DuckDBPyConnection, relation_sql: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE {relation_sql}").fetchall()]


def build_model(
    conn: duckdb.DuckDBPyConnection,
    model: Model,
    models: dict[str, Model],
    variables: dict,
    window: tuple[date, date] | None,
) -> int:
    """Write the model's table (or its window of it); return the rows written.

    Unpartitioned models are replaced whole. Partitioned models delete their
    window and insert the new rows; both in one transaction.
    """
    prepare_connection(conn)
    query = render(model, models, variables, window)
    with transaction(conn):
        if window is None:
            conn.execute(f"CREATE OR REPLACE TABLE {model.table} AS {query}")
            return conn.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]

        new_columns = _columns(conn, f"({query})")
        if not table_exists(conn, model.table):
            conn.execute(f"CREATE TABLE {model.table} AS SELECT * FROM ({query}) WHERE false")
        elif [c for c, _ in _columns(conn, model.table)] != [c for c, _ in new_columns]:
            raise ModelError(
                f"{model.path}: the model's columns changed since {model.table} was built; "
                f"drop the table (or run `make reset`) to rebuild it from scratch"
            )
        column, (start, end) = model.window_column, window
        outside = f"SELECT count(*) FROM {model.table} WHERE NOT ({column} >= ? AND {column} < ?)"
        conn.execute(f"DELETE FROM {model.table} WHERE {column} >= ? AND {column} < ?", [start, end])
        outside_before = conn.execute(outside, [start, end]).fetchone()[0]
        written = conn.execute(f"INSERT INTO {model.table} BY NAME SELECT * FROM ({query})").fetchone()[0]
        if conn.execute(outside, [start, end]).fetchone()[0] != outside_before:
            raise ModelError(
                f"{model.path}: wrote rows outside its window {start}..{end} on {column}; "
                f"filter on {{{{ window_start }}}} and {{{{ window_end }}}}"
            )
        return written


def run_test(
    conn: duckdb.DuckDBPyConnection,
    test: ColumnTest,
    model: Model,
    variables: dict,
    window: tuple[date, date] | None,
) -> int:
    """Number of rows failing the test, within the window for partitioned models."""
    scope = "true"
    if window is not None:
        scope = f"{model.window_column} >= DATE '{window[0]}' AND {model.window_column} < DATE '{window[1]}'"
    return conn.execute(test.failing_rows_sql(model.table, scope, variables)).fetchone()[0]
