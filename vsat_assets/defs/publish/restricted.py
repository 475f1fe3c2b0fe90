"""The restricted file: respondent-level, pseudonymous tables for the few who may hold them
(docs/restricted-data.md), written only when `VSAT_RESTRICTED_FILE` names a path.

It holds what the published file leaves out (published.NOT_PUBLISHED and the published
tables' dropped or hidden figures): marts.responses (one row per interview: survey_id,
strand, area, month, weights, answers), and the full survey_funnel and weighting_summary.
No names, phone numbers, dates of birth, addresses or crime references: those never reach
the marts. Written like the analysts' file (a temporary name, then a rename; owner-only
permissions, 0600), in DuckDB storage v1.4.0.
"""

import os
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from vsat_assets import settings
from vsat_assets.crash import crash_point
from vsat_assets.sql_runner.models import sql_literal
from vsat_assets.warehouse import WarehouseResource

RESTRICTED_FILE = "restricted_file"
RESTRICTED_TABLES = ("responses", "survey_funnel", "weighting_summary")
STORAGE_VERSION = "v1.4.0"


def write_restricted(conn, target: Path) -> dict[str, int]:
    """Copy RESTRICTED_TABLES (those the warehouse has) into `target`, atomically, owner-only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)
    present = {t for (t,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' "
        "AND database_name = current_database()").fetchall()}
    counts = {}
    old_umask = os.umask(0o077)  # DuckDB creates the file: owner-only from its first byte
    try:
        conn.execute(f"ATTACH {sql_literal(str(partial))} AS restricted (STORAGE_VERSION '{STORAGE_VERSION}')")
        try:
            conn.execute("CREATE SCHEMA restricted.marts")
            for table in (t for t in RESTRICTED_TABLES if t in present):
                conn.execute(f"CREATE TABLE restricted.marts.{table} AS SELECT * FROM marts.{table}")
                counts[table] = conn.execute(f"SELECT count(*) FROM restricted.marts.{table}").fetchone()[0]
        finally:
            conn.execute("DETACH restricted")
    finally:
        os.umask(old_umask)
    os.chmod(partial, 0o600)
    crash_point("restricted.before_rename")
    os.replace(partial, target)
    return counts


@asset(
    name=RESTRICTED_FILE,
    group_name="publish",
    kinds={"duckdb"},
    deps=["responses", "response_weights", "survey_funnel"],
    description=(
        "The restricted file (VSAT_RESTRICTED_FILE): marts.responses, one pseudonymous row per interview, and the "
        "full funnel and weighting summary, for analysts cleared to hold respondent-level data "
        "(docs/restricted-data.md). Not written unless VSAT_RESTRICTED_FILE is set; never part of the analysts' "
        "published file or the extracts."
    ),
)
def restricted_file(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    target = settings.restricted_file()
    if target is None:
        context.log.info("VSAT_RESTRICTED_FILE is not set: no restricted file written (docs/restricted-data.md)")
        return MaterializeResult(metadata={"configured": False})
    if target.parent == settings.data_dir() / "extracts" or target == settings.data_dir() / "vsat_analytics.duckdb":
        from dagster import Failure

        raise Failure(f"VSAT_RESTRICTED_FILE={target} is where published outputs go: choose a path of its own")
    with warehouse.get_connection() as conn:
        counts = write_restricted(conn, target)
    context.log.info(f"restricted file written: {target} ({sum(counts.values())} rows in {len(counts)} tables)")
    return MaterializeResult(metadata={"configured": True, "path": MetadataValue.path(str(target)),
                                       "tables": MetadataValue.json(counts)})
