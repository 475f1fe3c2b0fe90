"""The comparator figures (published, imported from CSV) and the comparison mart."""

import warnings

from dagster import (
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    TimeWindowPartitionMapping,
    asset,
)

from vsat_assets import settings
from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.compare import files, mart
from vsat_assets.defs.compare import national_extract as extract_file
from vsat_assets.partitions import financial_year_partitions
from vsat_assets.sql_runner.partition_results import add_partition_metadata, partition_windows
from vsat_assets.warehouse import WarehouseResource
from vsat_assets.yearly_exports import write_each_year

GROUP = "compare"


def _schema(columns) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=n, type=t, description=d) for n, t, d in columns])


@asset(
    group_name=GROUP,
    description="Published comparator figures (England and Wales, most similar group, forces' own figures) read "
    "from every *.csv in the comparator folder (VSAT_COMPARATOR_DIR, default <data>/comparators), checked whole "
    "before anything is stored: a bad file fails the run naming file, line and column, and the stored figures stay "
    "as they were. Layout: docs/comparisons.md.",
    kinds={"csv", "duckdb"},
    metadata={"dagster/column_schema": _schema(files.TABLE_COLUMNS), "dagster/table_name": files.TABLE},
)
def comparator_figures(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    folder = settings.comparator_dir()
    figures = files.read_comparator_folder(folder)  # raises before the warehouse is opened
    if not figures:
        context.log.warning(f"no comparator files in {folder}: the comparison has the previous year only")
    with warehouse.get_connection() as conn:
        stored = files.store(conn, figures)
    by_file = {}
    for f in figures:
        by_file[f.source_file] = by_file.get(f.source_file, 0) + 1
    return MaterializeResult(metadata={"dagster/row_count": stored, "folder": MetadataValue.path(str(folder)),
                                       "figures_by_file": MetadataValue.json(by_file)})


def _this_and_previous_year(name: str) -> AssetDep:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        mapping = TimeWindowPartitionMapping(start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True)
    return AssetDep(name, partition_mapping=mapping)


@asset(
    group_name=GROUP,
    description="The force against England and Wales, its most similar group and its previous year, per financial "
    "year, question and strand (whole force), each with its 95% interval; the difference tested allowing for the "
    "force being part of the comparator, worded 'higher than' / 'broadly in line with' / 'lower than' only as the "
    "test says. Only published (disclosure-controlled) figures. Method: docs/method.md, Comparisons.",
    deps=[_this_and_previous_year("satisfaction_annual"), "comparator_figures"],
    partitions_def=financial_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"duckdb"},
    metadata={"dagster/column_schema": _schema(mart.COLUMNS), "dagster/table_name": mart.TABLE},
)
def satisfaction_comparison(context: AssetExecutionContext, warehouse: WarehouseResource,
                            annual: AnnualSettings) -> MaterializeResult:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    force = annual.force_code_for_hmicfrs
    by_year = {}
    with warehouse.get_connection() as conn:
        written = mart.write(conn, start, end, force, annual.low_base_threshold, annual.suppress_threshold)
        for w in partition_windows(context, financial_year_partitions):
            counts = dict(conn.execute(
                f"SELECT coalesce(verdict, 'not tested'), count(*) FROM {mart.TABLE} "
                "WHERE year_start >= ? AND year_start < ? GROUP BY ALL", [w.start, w.end]).fetchall())
            by_year[w.key] = {"dagster/row_count": sum(counts.values()), "verdicts": MetadataValue.json(counts)}
    context.log.info(f"{mart.TABLE}: wrote {written} rows for force {force}")
    add_partition_metadata(context, by_year)
    return MaterializeResult(metadata={"rows_written_in_run": written})


@asset(
    group_name=GROUP,
    description="What the force publishes for the national comparison: exports/national_vsat_YYYY-YY.csv, the "
    "whole-force cells of marts.satisfaction_annual (every question and strand) with their standard error and the "
    "force's weighted population; suppressed cells blank. Aggregate figures only. Layout: docs/national.md.",
    deps=["satisfaction_annual", "response_weights"],
    partitions_def=financial_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"csv"},
)
def national_extract(context: AssetExecutionContext, warehouse: WarehouseResource,
                     annual: AnnualSettings) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        write_each_year(context, lambda year: extract_file.extract_rows(conn, year, annual.force_code_for_hmicfrs),
                        extract_file.extract_name, extract_file.write_extract)
    return MaterializeResult()


COMPARE_ASSETS = [comparator_figures, satisfaction_comparison, national_extract]
