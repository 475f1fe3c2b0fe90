"""The analysts' file: a read-only copy of the marts, published atomically beside the warehouse.

Analysts open `vsat_analytics.duckdb`, never the pipeline's own file: DuckDB allows one
writer or many readers per file, so a reader on the warehouse would stop the pipeline.
The copy is written under a temporary name and renamed into place; a reader keeps the
version it opened and never sees a half-written file.
"""

import os
from pathlib import Path

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from vsat_assets import settings
from vsat_assets.crash import crash_point
from vsat_assets.publish.dictionary import TableDoc, marts_documentation
from vsat_assets.sql_runner.models import sql_literal

DICTIONARY = "marts.data_dictionary"


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


def publish(conn, target: Path, docs: dict[str, TableDoc]) -> dict[str, int]:
    """Copy every marts table with its documentation into `target`, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):  # of a run killed mid-write
        leftover.unlink(missing_ok=True)
    tables = [row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY ALL").fetchall()]
    counts = {}
    conn.execute(f"ATTACH {sql_literal(str(partial))} AS analytics")
    try:
        conn.execute("CREATE SCHEMA analytics.marts")
        for table in tables:
            conn.execute(f"CREATE TABLE analytics.marts.{table} AS SELECT * FROM marts.{table}")
            if table in docs:
                for statement in _comment_statements(docs[table], f"analytics.marts.{table}"):
                    conn.execute(statement)
            counts[table] = conn.execute(f"SELECT count(*) FROM analytics.marts.{table}").fetchall()[0][0]
        conn.execute(
            """CREATE TABLE analytics.marts.data_dictionary AS
               SELECT c.table_name, c.column_name, c.data_type, c.comment AS description, t.comment AS table_description
               FROM duckdb_columns() c JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
               WHERE c.database_name = 'analytics' AND c.schema_name = 'marts'
               ORDER BY c.table_name, c.column_index"""
        )
    finally:
        conn.execute("DETACH analytics")
    crash_point("publish.before_rename")
    os.replace(partial, target)
    return counts


def build_publish_asset(documented: list[AssetsDefinition]) -> AssetsDefinition:
    """The analysts' file, after every asset in `documented` that writes a marts table."""
    docs = marts_documentation(documented)
    writers = [a for a in documented if any(str(s.metadata.get("dagster/table_name", "")).startswith("marts.")
                                            for s in a.specs)]

    @asset(
        name="analytics_file",
        group_name="publish",
        kinds={"duckdb"},
        deps=[key for a in writers for key in a.keys],
        description=(
            "vsat_analytics.duckdb: the marts and their data dictionary (table and column comments, and "
            f"{DICTIONARY}) for analysts, published atomically after each build. No personal data."
        ),
    )
    def analytics_file(context: AssetExecutionContext, warehouse: DuckDBResource) -> MaterializeResult:
        target = analytics_path()
        with warehouse.get_connection() as conn:
            counts = publish(conn, target, docs)
        context.log.info(f"published {len(counts)} marts tables to {target}")
        return MaterializeResult(
            metadata={"path": MetadataValue.path(str(target)), "tables": MetadataValue.json(counts)}
        )

    return analytics_file
