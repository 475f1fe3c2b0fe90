"""The analysts' file: a read-only copy of the marts, published atomically beside the warehouse.

Analysts open `vsat_analytics.duckdb`, never the pipeline's own file: DuckDB allows one
writer or many readers per file, so a reader on the warehouse would stop the pipeline.
The copy is written under a temporary name and renamed into place; a reader keeps the
version it opened and never sees a half-written file.

It is written in DuckDB's storage format v1.4.0 (STORAGE_VERSION), which DuckDB 1.4 and later
read: the CLI, ODBC/JDBC, R and Node clients analysts have, not only the pipeline's own DuckDB.
Each build also writes the marts and lookups as Parquet and CSV extracts (see extracts.py).
"""

import os
from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult, MetadataValue, asset

from vsat_assets import clock, lookups, settings
from vsat_assets.crash import crash_point
from vsat_assets.defs.publish import extracts, published
from vsat_assets.defs.publish.dictionary import TableDoc, marts_documentation
from vsat_assets.resources import SurveySettings
from vsat_assets.sql_runner.models import sql_literal
from vsat_assets.warehouse import WarehouseResource

ANALYTICS_FILE = "analytics_file"
DICTIONARY = "marts.data_dictionary"
LOOKUPS = "marts.lookups"
# The oldest DuckDB release whose readers the published file must open (CLI 1.4/1.5, drivers).
STORAGE_VERSION = "v1.4.0"
LOOKUPS_DOC = TableDoc(LOOKUPS, lookups.TABLE_DESCRIPTION, lookups.COLUMNS)
DICTIONARY_DOC = TableDoc(DICTIONARY, "Every column of the published marts with its type and meaning.", (
    ("table_name", "VARCHAR", "Table in the marts schema."),
    ("column_name", "VARCHAR", "Column."),
    ("data_type", "VARCHAR", "DuckDB type."),
    ("description", "VARCHAR", "What the column holds."),
    ("table_description", "VARCHAR", "What the table holds."),
))


def analytics_path() -> Path:
    return settings.data_dir() / "vsat_analytics.duckdb"


def _comment_statements(doc: TableDoc, table: str) -> list[str]:
    statements = [f"COMMENT ON TABLE {table} IS {sql_literal(doc.description)}"]
    statements += [
        f"COMMENT ON COLUMN {table}.{name} IS {sql_literal(description)}"
        for name, _, description in doc.columns
        if description
    ]
    return statements


def _write_lookups(conn, areas: list[str]) -> None:
    conn.execute(f"CREATE TABLE analytics.{LOOKUPS} (kind VARCHAR, code VARCHAR, label VARCHAR, definition VARCHAR)")
    conn.executemany(f"INSERT INTO analytics.{LOOKUPS} VALUES (?, ?, ?, ?)", [tuple(r) for r in lookups.lookups(areas)])


def publish(conn, target: Path, docs: dict[str, TableDoc], extracts_dir: Path | None = None,
            areas: list[str] | tuple[str, ...] = ()) -> dict[str, int]:
    """Copy the published marts (published.PUBLISHED_TABLES, each under its disclosure rule) with
    their documentation, and the lookups, into `target`, atomically; with `extracts_dir`, also
    write each of them as Parquet and CSV into that folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):  # of a run killed mid-write
        leftover.unlink(missing_ok=True)
    tables = published.tables_to_publish([row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "AND table_catalog = current_database() ORDER BY ALL").fetchall()])
    counts = {}
    conn.execute(f"ATTACH {sql_literal(str(partial))} AS analytics (STORAGE_VERSION '{STORAGE_VERSION}')")
    try:
        conn.execute("CREATE SCHEMA analytics.marts")
        for table in tables:
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = 'marts' AND table_name = ? ORDER BY column_index", [table]).fetchall()]
            conn.execute(f"CREATE TABLE analytics.marts.{table} AS {published.select_sql(conn, table, columns)}")
            if table in docs:
                for statement in _comment_statements(published.documentation(docs[table]), f"analytics.marts.{table}"):
                    conn.execute(statement)
            counts[table] = conn.execute(f"SELECT count(*) FROM analytics.marts.{table}").fetchall()[0][0]
        _write_lookups(conn, list(areas))
        for statement in _comment_statements(LOOKUPS_DOC, f"analytics.{LOOKUPS}"):
            conn.execute(statement)
        counts["lookups"] = conn.execute(f"SELECT count(*) FROM analytics.{LOOKUPS}").fetchall()[0][0]
        # Created and commented first, so that the dictionary lists its own columns too.
        conn.execute(f"CREATE TABLE analytics.{DICTIONARY} ({', '.join(f'{n} {t}' for n, t, _ in DICTIONARY_DOC.columns)})")
        for statement in _comment_statements(DICTIONARY_DOC, f"analytics.{DICTIONARY}"):
            conn.execute(statement)
        conn.execute(
            f"""INSERT INTO analytics.{DICTIONARY}
               SELECT c.table_name, c.column_name, c.data_type, c.comment, t.comment
               FROM duckdb_columns() c JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
               WHERE c.database_name = 'analytics' AND c.schema_name = 'marts'
               ORDER BY c.table_name, c.column_index"""
        )
    finally:
        conn.execute("DETACH analytics")
    crash_point("publish.before_rename")
    os.replace(partial, target)
    if extracts_dir is not None:  # from the file just published, so they never run ahead of it
        conn.execute(f"ATTACH {sql_literal(str(target))} AS published (READ_ONLY)")
        try:
            extracts.write_extracts(conn, "published.marts", [*tables, "lookups"], extracts_dir)
        finally:
            conn.execute("DETACH published")
    return counts


def extracts_path(day: date) -> Path:
    """data/extracts/2026-04-05/: the extracts published that day."""
    return settings.data_dir() / "extracts" / day.isoformat()


def build_publish_asset(documented: list[AssetsDefinition]) -> AssetsDefinition:
    """The analysts' file, after every asset in `documented` that writes a marts table."""
    docs = marts_documentation(documented)
    writers = [a for a in documented if any(str(s.metadata.get("dagster/table_name", "")).startswith("marts.")
                                            for s in a.specs)]

    @asset(
        name=ANALYTICS_FILE,
        group_name="publish",
        kinds={"duckdb"},
        deps=[key for a in writers for key in a.keys],
        description=(
            "vsat_analytics.duckdb: the marts, their lookups (labels and definitions of every code) and their "
            f"data dictionary (table and column comments, and {DICTIONARY}) for analysts, in DuckDB storage "
            f"{STORAGE_VERSION} (readable by DuckDB 1.4 and later), published atomically after each build; "
            "the same tables as Parquet and CSV in data/extracts/YYYY-MM-DD/. Aggregates only, disclosure-controlled "
            "(vsat_assets/defs/publish/published.py); no personal data and no respondent-level rows. "
            "Method: docs/method.md."
        ),
    )
    def analytics_file(
        context: AssetExecutionContext, warehouse: WarehouseResource, survey: SurveySettings
    ) -> MaterializeResult:
        target, folder = analytics_path(), extracts_path(clock.today())
        with warehouse.get_connection() as conn:
            try:
                counts = publish(conn, target, docs, folder, survey.policing_areas)
            except published.UndecidedTable as error:
                raise Failure(str(error)) from None
        context.log.info(f"published {len(counts)} marts tables to {target}, extracts in {folder}")
        return MaterializeResult(metadata={
            "path": MetadataValue.path(str(target)), "extracts": MetadataValue.path(str(folder)),
            "storage_version": STORAGE_VERSION, "tables": MetadataValue.json(counts),
        })

    return analytics_file
