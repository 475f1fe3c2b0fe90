"""Raw reports: a month of crimes and ASB incidents with victim details, from exports or the generator."""

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    ConfigurableResource,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from vsat_assets.sql_project import sql_assets
from vsat_assets import settings
from vsat_assets.csv_files import FileContentError
from vsat_assets.keys import check_against_warehouse
from vsat_assets.sql_runner.partition_results import (
    PartitionWindow,
    add_partition_metadata,
    check_events,
    checks_by_partition,
    partition_windows,
)
from vsat_assets.partitions import monthly_partitions, months_in, next_month
from vsat_assets.defs.raw_reports import checks
from vsat_assets.defs.raw_reports.schema import layout, report_table_ddl
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import WarehouseResource, ensure_schemas, replace_window, scalar

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import polars as pl


REPORTS_TABLE = "raw.reports"
OFFENCES_TABLE = "raw.offences"


class ReportSource(ConfigurableResource):
    """Where raw reports come from: the built-in generator or a drop folder of exports."""

    kind: str = "generator"
    drop_dir: str = ""
    seed: int = 20190401
    scale: float = 1.0
    forces: int = 1
    force: str = ""  # the register force generated (with forces=1); empty = the deployment's (VSAT_FORCE)

    def validate(self, month: date, areas: tuple[str, ...]) -> None:
        """Read and check the month's export files (ExportFileError on a fault); nothing for the generator."""
        if self.kind == "exports":
            for _ in self.frames(month, areas):
                pass

    def frames(self, month: date, areas: tuple[str, ...]) -> "Iterator[pl.DataFrame]":
        # The readers and the generator need polars: imported on use, not at code-location load.
        import polars as pl

        from vsat_assets.defs.raw_reports.exports import export_files_for_month, read_month_exports
        from vsat_assets.defs.raw_reports.generator import GeneratorSettings, generate_month
        if self.kind == "exports":
            drop_dir = Path(self.drop_dir or settings.drop_dir())
            if not export_files_for_month(drop_dir, month):
                # An absent export must not empty a stored month.
                raise FileNotFoundError(f"no export file reports_{month:%Y-%m}*.csv|parquet in {drop_dir}")
            yield read_month_exports(drop_dir, month, areas)
        elif self.kind == "generator":
            from vsat_assets.register import current_force

            generator = GeneratorSettings(seed=self.seed, scale=self.scale, forces=self.forces, areas=areas,
                                          force_code=self.force or current_force().code)
            for frame in generate_month(month, generator):
                yield frame.with_columns(source_file=pl.lit(f"generator seed={self.seed} scale={self.scale}"))
        else:
            raise ValueError(f"report source kind must be 'generator' or 'exports', not {self.kind!r}")


def _ensure_inside_month(frame: "pl.DataFrame", month: date, source: str) -> None:
    """Exports are validated row by row on reading; this guards the generator and any future source."""
    if frame.is_empty():
        return
    first, last = frame["report_date"].min(), frame["report_date"].max()
    if first < month or last >= next_month(month):
        raise ValueError(f"{source} produced report dates {first}..{last} for the month {month:%Y-%m}")


def load_reports(
    conn: "duckdb.DuckDBPyConnection",
    source: ReportSource,
    start: date,
    end: date,
    areas: tuple[str, ...],
    log: Callable[[str], None] = print,
) -> dict[str, int]:
    """Replace raw.reports for [start, end) with the source's months; returns rows per 'YYYY-MM'.

    Every export file of the window is validated before anything is written, so a bad file
    leaves all stored months as they were. Then each month is replaced in a transaction of
    its own: one transaction for a national year would hold it all in memory.
    """
    import polars as pl
    ensure_schemas(conn)
    conn.execute(report_table_ddl(REPORTS_TABLE))
    months = list(months_in(start, end))
    for month in months:
        source.validate(month, areas)
    per_month: dict[str, int] = {}
    for month in months:
        frames = list(source.frames(month, areas))
        for frame in frames:
            _ensure_inside_month(frame, month, source.kind)
        incoming = pl.concat(frames).to_arrow()
        del frames
        conn.register("incoming_reports", incoming)
        replace_window(conn, REPORTS_TABLE, "report_date", month, next_month(month),
                       lambda c: c.execute(f"INSERT INTO {REPORTS_TABLE} BY NAME SELECT * FROM incoming_reports"))
        conn.unregister("incoming_reports")
        per_month[month.strftime("%Y-%m")] = incoming.num_rows
        del incoming
        log(f"raw.reports {month:%Y-%m}: {per_month[month.strftime('%Y-%m')]} reports from the {source.kind}")
    return per_month


def _report_schema() -> TableSchema:
    return TableSchema(
        columns=[TableColumn(name, dtype) for name, dtype in layout().items()]
        + [TableColumn("source_file", "String", "export file name, or the generator's settings")]
    )


@asset(
    group_name="raw_reports",
    kinds={"duckdb", "python"},
    description="Offence codes of the records system and the survey strand each belongs to (empty: not surveyed).",
    metadata={"dagster/table_name": OFFENCES_TABLE},
)
def offence_catalogue(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        rows = load_offences(conn)
    return MaterializeResult(metadata={"dagster/row_count": rows})


def load_offences(conn: "duckdb.DuckDBPyConnection") -> int:
    from vsat_assets.defs.raw_reports.generator import load_offence_catalogue

    ensure_schemas(conn)
    conn.register("offence_catalogue", load_offence_catalogue().to_arrow())
    conn.execute(f"CREATE OR REPLACE TABLE {OFFENCES_TABLE} AS SELECT * FROM offence_catalogue")
    conn.unregister("offence_catalogue")
    return scalar(conn, f"SELECT count(*) FROM {OFFENCES_TABLE}")


@asset(
    group_name="raw_reports",
    kinds={"duckdb", "python"},
    deps=[offence_catalogue],  # the checks look offence codes up in it
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Recorded crimes and ASB incidents with victim details, one partition per report month. "
        "Holds personal data: only the eligibility and sampling stages read it."
    ),
    metadata={"dagster/column_schema": _report_schema(), "dagster/table_name": REPORTS_TABLE},
    check_specs=checks.RAW_REPORT_CHECK_SPECS,
)
def raw_reports(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    report_source: ReportSource,
    survey: SurveySettings,
):
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    areas = tuple(survey.policing_areas)
    ring = settings.key_ring()  # a run that cannot make pseudonyms stops here, before writing anything
    windows = partition_windows(context, monthly_partitions)
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        check_against_warehouse(conn, ring)
        try:
            per_month = load_reports(conn, report_source, start, end, areas, context.log.info)
        except FileContentError as e:
            # The one clear line heads the run's failure; the chained traceback says nothing more.
            raise export_failure(e) from None
        # Each month's own figures and check results, also when one run loads a range of months.
        check_results = checks_by_partition(windows, lambda w: checks.evaluate(
            conn, w.start, w.end, areas, {f"{w.start:%Y-%m}": per_month.get(f"{w.start:%Y-%m}", 0)}))
        add_partition_metadata(context, {w.key: _month_metadata(conn, w, per_month) for w in windows})
    yield MaterializeResult(metadata={"source": report_source.kind, "rows_written_in_run": sum(per_month.values())})
    yield from check_events(context, "raw_reports", check_results)


def export_failure(error: FileContentError) -> Failure:
    """A rejected export as a step failure whose description is the error's one line. The
    message never quotes a personal value (see exports.PERSONAL_COLUMNS); the metadata holds
    only the file, the place and the column."""
    metadata: dict = {"file": error.file}
    if error.line is not None:
        metadata["line"] = error.line
    if error.row is not None:
        metadata["data_row"] = error.row
    if error.column is not None:
        metadata["column"] = error.column
    return Failure(description=str(error), metadata=metadata, allow_retries=False)


def _month_metadata(conn: "duckdb.DuckDBPyConnection", window: PartitionWindow, per_month: dict[str, int]) -> dict:
    per_type = conn.execute(
        f"""SELECT record_type, count(*) FROM {REPORTS_TABLE}
            WHERE report_date >= ? AND report_date < ? GROUP BY ALL ORDER BY ALL""",
        [window.start, window.end],
    ).fetchall()
    return {
        "dagster/row_count": sum(n for _, n in per_type),
        "rows_written": per_month.get(f"{window.start:%Y-%m}", 0),
        "reports_per_record_type": MetadataValue.json(dict(per_type)),
    }


SQL_ASSETS = sql_assets("raw_reports")  # staging and the volumes mart (dbt_like_sql/)
