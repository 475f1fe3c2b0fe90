"""Annual satisfaction tables, the HMICFRS export and the annual report."""

import warnings
from datetime import date

from dagster import (
    AssetDep,
    AssetExecutionContext,
    Failure,
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
from vsat_assets.defs.annual import disclosure, hmicfrs, tables, weighting
from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.atomic import write_atomically
from vsat_assets.sql_runner.partition_results import add_partition_metadata, partition_windows
from vsat_assets.partitions import financial_year_of, financial_year_partitions, monthly_partitions
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import WarehouseResource
from vsat_assets.yearly_exports import write_each_year


def _window(context: AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _schema(table: tables.Table) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=n, type=t, description=d) for n, t, d in table.columns])


def _headline_table(conn, window: tuple[date, date]) -> dict:
    """The year's headline figures (force, general survey) as a markdown table for the UI."""
    from vsat_assets.defs.annual import report

    year = financial_year_of(window[0])
    return {"headlines": MetadataValue.md(report.headline_markdown(report.headlines(conn, year)))}


def previous_year_of(asset_name: str) -> AssetDep:
    """The same asset's previous financial year: its figures feed this year's changes, so a
    rebuilt earlier year makes the later one stale (none before the first year)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # allow_nonexistent_upstream_partitions, used knowingly
        mapping = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
    return AssetDep(asset_name, partition_mapping=mapping)


def _previous_year_note(context: AssetExecutionContext, conn, window: tuple[date, date]) -> dict:
    """Say when the year before has no interviews yet: its changes stay empty until rebuilt."""
    first = window[0]
    previous = conn.execute(
        f"SELECT count(*) FROM {tables.RESPONSES} WHERE outcome = 'COMPLETE' "
        "AND month_start >= ? AND month_start < ?", [date(first.year - 1, 4, 1), first]).fetchone()[0]
    if not previous:
        context.log.warning(
            f"{financial_year_of(first)}: no interviews of {financial_year_of(date(first.year - 1, 4, 1))} yet, "
            "so change_vs_previous_pp is empty; build that year, then rebuild this one")
    return {"previous_year_interviews": previous}


COVERAGE_NOTE = (
    "Population: the eligible victims (docs/method.md, Target population and coverage); victims the rules leave "
    "out although their crime is in scope (opted out, surveyed in the last 12 months, a second report in the "
    "month, no usable phone, not safe to contact, sensitive) are not represented.")


def _table_asset(table: tables.Table, description: str, partitions_def, build_sql, extra=None,
                 finalise=None, deps=("response_weights",), compares_with_previous_year=False, prepare=None,
                 weighted_by=None):
    """``prepare(conn, *window)``: writes the weights the query reads, in the table's transaction;
    ``weighted_by(conn, *window)``: interviews the query would read without a weight (then it fails)."""
    """An asset writing one satisfaction table from marts.responses."""
    name = table.name.split(".")[1]

    @asset(
        name=name,
        group_name="annual",
        description=f"{description} {COVERAGE_NOTE}",
        deps=["responses", *deps, *([previous_year_of(name)] if compares_with_previous_year else [])],
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        kinds={"duckdb", "sql"},
        metadata={"dagster/column_schema": _schema(table), "dagster/table_name": table.name},
    )
    def _asset(context: AssetExecutionContext, warehouse: WarehouseResource, annual: AnnualSettings) -> MaterializeResult:
        window = _window(context) if partitions_def else None
        thresholds = annual.thresholds()
        query = build_sql(thresholds, *(window or ()))
        after = (lambda c: finalise(c, *window, thresholds)) if finalise else None
        before = (lambda c: prepare(c, *(window or ()))) if prepare else None
        with warehouse.get_connection() as conn:
            if "response_weights" in deps and window and (missing := weighting.unweighted_interviews(conn, *window)):
                raise Failure(f"{table.name}: {missing} completed interviews in {window[0]}..{window[1]} have no "
                              "calibrated_weight; materialise response_weights for the year first")
            if weighted_by and (missing := weighted_by(conn, *window)):
                raise Failure(f"{table.name}: {missing} domestic abuse interviews of its months have no "
                              "calibrated_weight; materialise satisfaction_da_monthly for those months first")
            try:
                written = tables.write(conn, table, query, window, after, before)
            except ValueError as error:  # weights that cannot be computed: say why, write nothing
                raise Failure(f"{table.name}: {error}") from error
            context.log.info(f"{table.name}: wrote {written} rows")
            if not partitions_def:
                total = conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
                return MaterializeResult(metadata={"rows_written": written, "dagster/row_count": total})
            # Each partition's own figures, also when one run builds several years or months.
            by_partition = {}
            for w in partition_windows(context, partitions_def):
                span = (w.start, w.end)
                rows = conn.execute(f"SELECT count(*) FROM {table.name} WHERE {table.window_column} >= ? "
                                    f"AND {table.window_column} < ?", list(span)).fetchone()[0]
                by_partition[w.key] = {
                    "dagster/row_count": rows,
                    **(extra(conn, span) if extra else {}),
                    **(_previous_year_note(context, conn, span) if compares_with_previous_year else {}),
                }
        add_partition_metadata(context, by_partition)
        return MaterializeResult(metadata={"rows_written_in_run": written})

    return _asset


satisfaction_annual = _table_asset(
    tables.ANNUAL,
    "Satisfaction per financial year, question, strand and area (force total, by strand, by area, strand x "
    "area), general survey only, with the change from the previous year. The analysts' contract. "
    "Method: docs/method.md.",
    financial_year_partitions, tables.annual_sql, extra=_headline_table, finalise=disclosure.finalise_annual,
    compares_with_previous_year=True,
)
satisfaction_gap = _table_asset(
    tables.GAP, "Satisfaction of white and ethnic-minority victims per year and question, and the gap (SPI 1.2). "
    "Method: docs/method.md.",
    financial_year_partitions, tables.gap_sql, finalise=disclosure.finalise_gap,
)
satisfaction_rolling = _table_asset(
    tables.ROLLING, "Whole-experience satisfaction over the 12 months to each quarter end, general survey, each "
    "period's respondents calibrated to the eligible victims of its own months (intermediate.rolling_weights). "
    "Rebuilt whole with each month's returns; a period that begins before the survey's first month is marked "
    "partial. Method: docs/method.md.",
    None, tables.rolling_sql, deps=("response_weights", "sampling_frame", "stg_reports"),
    prepare=lambda conn: weighting.calibrate_rolling(conn),
)
satisfaction_da_monthly = _table_asset(
    tables.DA_MONTHLY, "The domestic abuse survey's satisfaction per month and question, each month's interviews "
    "calibrated to its own eligible victims (written to marts.responses.calibrated_weight). Method: docs/method.md.",
    monthly_partitions, tables.da_monthly_sql, deps=("sampling_frame", "stg_reports"),
    prepare=lambda conn, start, end: weighting.calibrate_da_months(conn, start, end),
)


def _three_months_of(asset_name: str) -> AssetDep:
    """The quarter ending in a month reads that month's and the two before's weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        mapping = TimeWindowPartitionMapping(start_offset=-2, end_offset=0, allow_nonexistent_upstream_partitions=True)
    return AssetDep(asset_name, partition_mapping=mapping)


def _da_quarter_unweighted(conn, start: date, end: date) -> int:
    first = date(start.year - (start.month <= 2), (start.month - 3) % 12 + 1, 1)
    return weighting.unweighted_interviews(conn, first, end, domestic_abuse_only=True)


satisfaction_da_quarterly = _table_asset(
    tables.DA_QUARTERLY, "The domestic abuse survey's satisfaction over rolling quarters (three months to each month), "
    "on the months' calibrated weights. Method: docs/method.md.",
    monthly_partitions, tables.da_quarterly_sql, deps=(_three_months_of("satisfaction_da_monthly"),),
    weighted_by=_da_quarter_unweighted,
)


@asset(
    group_name="annual",
    description="Non-response weights: each financial year's completed interviews (general and domestic abuse "
    "surveys apart) raked to the eligible victims by stratum, age band and ethnic group, then trimmed; written to "
    "marts.responses.calibrated_weight. marts.weighting_summary gives the weighting efficiency and the respondents' "
    "profile (stratum, age band, ethnic group) before and after weighting against the eligible victims'. "
    "Method: docs/method.md.",
    deps=["responses", "sampling_frame", "stg_reports"],
    partitions_def=financial_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"duckdb", "python"},
    metadata={
        "dagster/column_schema": TableSchema(columns=[
            TableColumn(name=n, type=t, description=d) for n, t, d in weighting.SUMMARY_COLUMNS]),
        "dagster/table_name": weighting.SUMMARY_TABLE,
    },
)
def response_weights(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    by_year = {}
    with warehouse.get_connection() as conn:
        for w in partition_windows(context, financial_year_partitions):
            year = financial_year_of(w.start)
            rows = [r for r in weighting.calibrate_year(conn, year, w.start, w.end) if r["margin"] == "ALL"]
            by_year[w.key] = {f"{r['survey']} weighting_efficiency": round(r["weighting_efficiency"], 4) for r in rows}
            for row in rows:
                context.log.info(f"{year} {row['survey']}: {row['respondents']} respondents, weighting efficiency "
                                 f"{row['weighting_efficiency']:.3f}, {row['trimmed']} trimmed")
    add_partition_metadata(context, by_year)
    return MaterializeResult()


@asset(
    group_name="annual",
    description="CSV per financial year for HMICFRS: published cells of marts.satisfaction_annual; "
    "suppressed cells keep their row with blank figures.",
    deps=["satisfaction_annual"],
    partitions_def=financial_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"csv"},
)
def hmicfrs_export(context: AssetExecutionContext, warehouse: WarehouseResource, annual: AnnualSettings) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        write_each_year(context, lambda year: hmicfrs.export_rows(conn, year, annual.force_code_for_hmicfrs),
                        hmicfrs.export_name, hmicfrs.write_export)
    return MaterializeResult()


@asset(
    group_name="annual",
    description="Self-contained HTML report per financial year for a Police and Crime Panel (plotly, opens "
    "offline, prints to PDF): headlines, year on year, a monthly control chart, each question by strand and area, "
    "the ethnic-minority gap, the domestic abuse survey on rolling quarters and the funnel, every chart with its "
    "data table. Method: docs/method.md.",
    deps=["satisfaction_annual", "satisfaction_gap", "satisfaction_rolling", "satisfaction_da_quarterly",
          "survey_funnel", "satisfaction_comparison"],
    partitions_def=financial_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"html", "plotly"},
)
def annual_report(
    context: AssetExecutionContext, warehouse: WarehouseResource, annual: AnnualSettings, survey: SurveySettings
) -> MaterializeResult:
    from vsat_assets.defs.annual import report  # plotly: imported when a report is built, not at load

    by_year = {}
    with warehouse.get_connection() as conn:
        for w in partition_windows(context, financial_year_partitions):
            year = financial_year_of(w.start)
            page, items = report.build_report(conn, year, w.start, survey.force_name,
                                               annual.suppress_threshold, annual.low_base_threshold)
            path = report.report_path(year)
            write_atomically(path, page)
            by_year[w.key] = {"path": MetadataValue.path(str(path)),
                              "headlines": MetadataValue.md(report.headline_markdown(items))}
            context.log.info(f"{path.name}: {len(items)} headline figures")
    add_partition_metadata(context, by_year)
    return MaterializeResult()


ANNUAL_ASSETS: list = [
    response_weights, satisfaction_annual, satisfaction_gap, satisfaction_rolling, satisfaction_da_monthly,
    satisfaction_da_quarterly, hmicfrs_export,
    annual_report,
]
