"""Run one SQL model against DuckDB: no Dagster and no domain here, so a benchmark or a test
can call it bare. The caller prepares the connection (the functions its models call)."""

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING

from vsat_assets.sql_runner.column_tests import ColumnTest
from vsat_assets.sql_runner.models import Model, ModelError, render, sql_literal
from vsat_assets.sql_runner.redaction import hide_literals, known_identifiers
from vsat_assets.sql_runner.storage import BUILT_MONTHS, ensure_built_months, table_exists, transaction
from vsat_assets.sql_runner.windows import months_in, next_month, previous_month

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb


def schema_drift(table_columns: list[tuple[str, str]], query_columns: list[tuple[str, str]]) -> str:
    """How the query's columns differ from the table's, compared by name (rows are inserted
    BY NAME, so order does not matter); '' when they agree."""
    table, query = dict(table_columns), dict(query_columns)
    differences = []
    if missing := [f"{name} {table[name]}" for name in table if name not in query]:
        differences.append(f"not in the query: {', '.join(missing)}")
    if new := [f"{name} {query[name]}" for name in query if name not in table]:
        differences.append(f"not in the table: {', '.join(new)}")
    if retyped := [f"{name} {table[name]} -> {query[name]}" for name in query
                   if name in table and query[name] != table[name]]:
        differences.append(f"type changed: {', '.join(retyped)}")
    return "; ".join(differences)


def _query_columns(conn: "duckdb.DuckDBPyConnection", query: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE ({query})").fetchall()]


def _table_columns(conn: "duckdb.DuckDBPyConnection", table: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE {table}").fetchall()]


def _create_table(conn: "duckdb.DuckDBPyConnection", model: Model, query: str) -> None:
    if model.columns and all(c.data_type for c in model.columns):
        columns = ", ".join(f"{c.name} {c.data_type}" for c in model.columns)
        conn.execute(f"CREATE TABLE {model.table} ({columns})")
    else:
        conn.execute(f"CREATE TABLE {model.table} AS SELECT * FROM ({query}) WHERE false")


def _replace_window(
    conn: "duckdb.DuckDBPyConnection",
    model: Model,
    models: dict[str, Model],
    variables: dict,
    window: tuple[date, date],
    keep: list[date] = (),
) -> int:
    """Replace the window's rows with the query's, except in the months of `keep` (settled)."""
    query = render(model, models, variables, window)
    if not table_exists(conn, model.table):
        _create_table(conn, model, query)
    drift = schema_drift(_table_columns(conn, model.table), _query_columns(conn, query))
    if drift:
        raise ModelError(
            f"{model.path}: the query's columns differ from {model.table}'s: {drift}; "
            f"cast in the SQL, or if the model changed, drop the table (or run `make reset`) to rebuild it"
        )
    column, (start, end) = model.window_column, window
    # A NULL in the window column is outside every window: a re-run could never replace it.
    outside = f"SELECT count(*) FROM {model.table} WHERE NOT coalesce({column} >= ? AND {column} < ?, false)"
    not_kept = "true"
    if keep:
        kept_months = ", ".join(sql_literal(month) for month in keep)
        not_kept = f"coalesce(date_trunc('month', {column})::DATE NOT IN ({kept_months}), true)"
    conn.execute(f"DELETE FROM {model.table} WHERE {column} >= ? AND {column} < ? AND {not_kept}", [start, end])
    outside_before = conn.execute(outside, [start, end]).fetchone()[0]
    written = conn.execute(
        f"INSERT INTO {model.table} BY NAME SELECT * FROM ({query}) WHERE {not_kept}").fetchone()[0]
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


def settled_months(
    conn: "duckdb.DuckDBPyConnection", model: Model, models: dict[str, Model], variables: dict, window
) -> dict[date, datetime]:
    """The window's months that the model's `settled` query lists (month -> sent_at): their
    stored rows are kept as they are. A window ending None reaches to the last settled month."""
    if not model.settled_sql or window is None:
        return {}
    query = render(model, models, variables, window, sql=model.settled_sql)
    found = conn.execute(
        f"SELECT month::DATE, sent_at FROM ({query}) WHERE month >= ? AND (? IS NULL OR month < ?) ORDER BY 1",
        [window[0], window[1], window[1]],
    ).fetchall()
    return dict(found)


def settled_message(month: date, sent_at: datetime) -> str:
    return f"{month:%Y-%m} is settled (sent {sent_at:%Y-%m-%d}): kept as sent"


def _is_built(conn: "duckdb.DuckDBPyConnection", model: Model, month: date) -> bool:
    recorded = conn.execute(
        f"SELECT count(*) FROM {BUILT_MONTHS} WHERE model = ? AND month = ?", [model.name, month]).fetchall()[0][0]
    if recorded or not table_exists(conn, model.table):
        return bool(recorded)
    column = model.window_column
    # Months built before the runner kept its log of built months are known by their rows.
    return conn.execute(
        f"SELECT count(*) > 0 FROM {model.table} WHERE {column} >= ? AND {column} < ?",
        [month, next_month(month)]).fetchall()[0][0]


def _latest_built_before(conn: "duckdb.DuckDBPyConnection", model: Model, month: date) -> date | None:
    found = [conn.execute(
        f"SELECT max(month) FROM {BUILT_MONTHS} WHERE model = ? AND month < ?", [model.name, month]).fetchall()[0][0]]
    if table_exists(conn, model.table):
        found.append(conn.execute(
            f"SELECT date_trunc('month', max({model.window_column}))::DATE FROM {model.table} "
            f"WHERE {model.window_column} < ?", [month]).fetchall()[0][0])
    found = [d for d in found if d is not None]
    return max(found) if found else None


def check_previous_month(conn: "duckdb.DuckDBPyConnection", model: Model, month: date) -> None:
    """Refuse `month` while the month before it is missing, unless no earlier month is built
    at all (the first month of the chain, or a chain extended backwards)."""
    previous = previous_month(month)
    if _is_built(conn, model, previous):
        return
    latest = _latest_built_before(conn, model, month)
    if latest is None:
        return
    missing = f"{previous:%Y-%m}" if next_month(latest) == previous else f"{next_month(latest):%Y-%m}..{previous:%Y-%m}"
    raise ModelError(
        f"{model.name} {month:%Y-%m}: refused, the month before it ({previous:%Y-%m}) has not been built or is "
        f"still being built by another run (the months before it end at {latest:%Y-%m}). Each month's sample "
        f"depends on the month before: build {missing} first, or backfill {next_month(latest):%Y-%m}..{month:%Y-%m} "
        "as one range. Nothing was written."
    )


def stale_months(
    conn: "duckdb.DuckDBPyConnection", model: Model, models: dict[str, Model], variables: dict,
    window: tuple[date, date],
) -> list[date]:
    """Months after the window that were built before it and are not settled: built out of order,
    they did not see this window's draw (they are stale until re-run)."""
    if not model.needs_previous_month:
        return []
    settled = settled_months(conn, model, models, variables, (window[1], None))
    found = conn.execute(
        f"SELECT month FROM {BUILT_MONTHS} WHERE model = ? AND month >= ? ORDER BY 1", [model.name, window[1]]
    ).fetchall()
    return [month for (month,) in found if month not in settled]


def _record_built(conn: "duckdb.DuckDBPyConnection", model: Model, month: date) -> None:
    conn.execute(
        f"""INSERT INTO {BUILT_MONTHS} VALUES (?, ?, current_timestamp)
           ON CONFLICT (model, month) DO UPDATE SET built_at = excluded.built_at""",
        [model.name, month])


def build_model(
    conn: "duckdb.DuckDBPyConnection",
    model: Model,
    models: dict[str, Model],
    variables: dict,
    window: tuple[date, date] | None,
) -> int:
    """Write the model's table (or its window of it) in one transaction; return the rows written.

    Unpartitioned models are replaced whole. Partitioned models delete their
    window and insert the new rows, except in settled months (their rows are kept).
    A model built `month_by_month` does so one month at a time, in order, so each
    month can read the months before it; with `previous_month: required` a month
    is refused while the month before it is missing.
    """
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {model.stage}")
    if model.month_by_month:
        ensure_built_months(conn)
    with transaction(conn):
        if window is None:
            conn.execute(f"CREATE OR REPLACE TABLE {model.table} AS {render(model, models, variables, None)}")
            return conn.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
        settled = settled_months(conn, model, models, variables, window)
        if not model.month_by_month:
            return _replace_window(conn, model, models, variables, window, keep=list(settled))
        written = 0
        for month in months_in(*window):
            if model.needs_previous_month:
                check_previous_month(conn, model, month)
            if month not in settled:
                written += _replace_window(conn, model, models, variables, (month, next_month(month)))
                _record_built(conn, model, month)
        return written


Redaction = Callable[[str, Collection[str]], str]


@contextmanager
def errors_redacted(conn: "duckdb.DuckDBPyConnection", model: Model, redact: Redaction = hide_literals) -> Iterator[None]:
    """DuckDB's errors inside, as a ModelError naming the model, its message passed through
    `redact` (given the names the runner knows): a message can quote a value of the data,
    and it goes to the Dagster event log."""
    import duckdb
    try:
        yield
    except duckdb.Error as error:
        identifiers = known_identifiers(conn, model.sql)
        raise ModelError(f"{model.path}: {type(error).__name__}: {redact(str(error), identifiers)}") from None


def build_model_safely(
    conn, model: Model, models: dict[str, Model], variables: dict, window, redact: Redaction = hide_literals
) -> int:
    """`build_model`, its errors redacted."""
    with errors_redacted(conn, model, redact):
        return build_model(conn, model, models, variables, window)


def summarise(
    conn: "duckdb.DuckDBPyConnection", model: Model, models: dict[str, Model], variables: dict, window
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
    conn: "duckdb.DuckDBPyConnection",
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
