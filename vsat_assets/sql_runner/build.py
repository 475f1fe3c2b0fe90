"""Run one SQL model against DuckDB: no Dagster here, so the benchmark can call it bare."""

import re
from datetime import date

import duckdb

from vsat_assets.partitions import months_in, next_month
from vsat_assets.privacy import PHONE_NORMALISE_SQL, register_pseudonym_function
from vsat_assets.sql_runner.column_tests import ColumnTest
from vsat_assets.sql_runner.models import Model, ModelError, render
from vsat_assets.warehouse import ensure_schemas, table_exists, transaction


def prepare_connection(conn: duckdb.DuckDBPyConnection, pseudonym_key: bytes) -> None:
    """The schemas and registers models read, and functions they may call (this connection only)."""
    ensure_schemas(conn)
    conn.execute(f"CREATE OR REPLACE TEMP MACRO normalise_uk_phone(raw) AS {PHONE_NORMALISE_SQL.format(col='raw')}")
    try:
        conn.remove_function("vsat_pseudonym")
    except duckdb.InvalidInputException:
        pass
    register_pseudonym_function(conn, pseudonym_key, "vsat_pseudonym")


def _query_columns(conn: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE ({query})").fetchall()]


def _table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE {table}").fetchall()]


def _create_table(conn: duckdb.DuckDBPyConnection, model: Model, query: str) -> None:
    if model.columns and all(c.data_type for c in model.columns):
        columns = ", ".join(f"{c.name} {c.data_type}" for c in model.columns)
        conn.execute(f"CREATE TABLE {model.table} ({columns})")
    else:
        conn.execute(f"CREATE TABLE {model.table} AS SELECT * FROM ({query}) WHERE false")


def _replace_window(
    conn: duckdb.DuckDBPyConnection, model: Model, models: dict[str, Model], variables: dict, window: tuple[date, date]
) -> int:
    query = render(model, models, variables, window)
    if not table_exists(conn, model.table):
        _create_table(conn, model, query)
    table_columns, query_columns = _table_columns(conn, model.table), _query_columns(conn, query)
    if table_columns != query_columns:
        differing = sorted(set(query_columns) ^ set(table_columns))
        raise ModelError(
            f"{model.path}: the query's columns differ from {model.table}'s (name, type): {differing}; "
            f"cast in the SQL, or if the model changed, drop the table (or run `make reset`) to rebuild it"
        )
    column, (start, end) = model.window_column, window
    # A NULL in the window column is outside every window: a re-run could never replace it.
    outside = f"SELECT count(*) FROM {model.table} WHERE NOT coalesce({column} >= ? AND {column} < ?, false)"
    conn.execute(f"DELETE FROM {model.table} WHERE {column} >= ? AND {column} < ?", [start, end])
    outside_before = conn.execute(outside, [start, end]).fetchone()[0]
    written = conn.execute(f"INSERT INTO {model.table} BY NAME SELECT * FROM ({query})").fetchone()[0]
    if conn.execute(outside, [start, end]).fetchone()[0] != outside_before:
        raise ModelError(
            f"{model.path}: wrote rows outside its window {start}..{end} on {column}; "
            f"filter on {{{{ window_start }}}} and {{{{ window_end }}}}"
        )
    _check_invariants(conn, model, models, variables, window)
    return written


def _check_invariants(conn, model: Model, models: dict[str, Model], variables: dict, window) -> None:
    """Each YAML invariant's query lists the rows that break it; any row undoes the build."""
    for invariant in model.invariants:
        query = render(model, models, variables, window, sql=invariant["sql"])
        broken = conn.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
        if broken:
            raise ModelError(
                f"{model.table} for {window[0]:%Y-%m}..{window[1]:%Y-%m}: refused, {invariant['description']} "
                f"({broken} rows differ; invariant {invariant['name']}). The stored rows are kept."
            )


def build_model(
    conn: duckdb.DuckDBPyConnection,
    model: Model,
    models: dict[str, Model],
    variables: dict,
    window: tuple[date, date] | None,
) -> int:
    """Write the model's table (or its window of it) in one transaction; return the rows written.

    Unpartitioned models are replaced whole. Partitioned models delete their
    window and insert the new rows. A model built `month_by_month` does so one
    month at a time, in order, so each month can read the months before it.
    """
    with transaction(conn):
        if window is None:
            conn.execute(f"CREATE OR REPLACE TABLE {model.table} AS {render(model, models, variables, None)}")
            return conn.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
        if not model.month_by_month:
            return _replace_window(conn, model, models, variables, window)
        return sum(
            _replace_window(conn, model, models, variables, (month, next_month(month)))
            for month in months_in(*window)
        )


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def build_model_safely(conn, model: Model, models: dict[str, Model], variables: dict, window) -> int:
    """`build_model`, with DuckDB's error messages stripped of quoted values: they can quote
    a crime reference or a name, and the message goes to the Dagster event log."""
    try:
        return build_model(conn, model, models, variables, window)
    except duckdb.Error as error:
        message = _QUOTED.sub("'…'", str(error))
        raise ModelError(f"{model.path}: {type(error).__name__}: {message}") from None


def summarise(
    conn: duckdb.DuckDBPyConnection, model: Model, models: dict[str, Model], variables: dict, window
) -> str | None:
    """The model's `summary` query as a markdown table, for Dagster metadata."""
    if not model.summary_sql:
        return None
    result = conn.execute(render(model, models, variables, window, sql=model.summary_sql))
    columns = [d[0] for d in result.description]
    rows = result.fetchall()
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return header + "".join("| " + " | ".join("" if v is None else str(v) for v in row) + " |\n" for row in rows)


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
