"""Asset checks of the annual outputs: sound estimates, honest bases, disclosure control, no personal data."""

from typing import TYPE_CHECKING

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from vsat_assets.defs.annual import tables
from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.sql_runner.partition_results import each_partition
from vsat_assets.partitions import financial_year_of, financial_year_partitions
from vsat_assets.warehouse import WarehouseResource, table_exists

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

PERCENTAGES_IN_INTERVALS = "percentages_in_intervals"
BASES_MATCH_RESPONSES = "bases_match_responses"
NO_SMALL_PUBLISHED_CELLS = "no_small_published_cells"
NO_PERSONAL_DATA_IN_MARTS = "no_personal_data_in_marts"
EVERY_INTERVIEW_WEIGHTED = "every_interview_weighted"
WEIGHTS_MEET_FRAME = "weights_meet_frame"

# Column names that would hold personal data, matched as whole words of snake_case names.
PERSONAL_COLUMN_PATTERN = (
    r"(^|_)(name|title|forename|surname|phone|phone_number|telephone|mobile|date_of_birth|dob|birth_date"
    r"|crime_reference|crime_ref|address|postcode|person_id|email)($|_)"
)
# A UK phone number standing alone (not inside a longer token such as a hex pseudonym).
PHONE_VALUE_PATTERN = r"(^|[^0-9A-Za-z])(\+44 ?(\(0\))? ?|0)[1-9][0-9 ]{8,11}[0-9]($|[^0-9A-Za-z])"
CRIME_REFERENCE_PATTERN = r"/[CA]/[0-9]"

_ESTIMATE_TABLES = (tables.ANNUAL, tables.ROLLING, tables.DA_MONTHLY, tables.DA_QUARTERLY)
_EPSILON = 1e-9


def _asset(table: tables.Table) -> str:
    return table.name.split(".")[1]


def _count(conn: "duckdb.DuckDBPyConnection", sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def out_of_interval_rows(conn: "duckdb.DuckDBPyConnection", table: tables.Table) -> int:
    return _count(conn, f"""
        SELECT count(*) FROM {table.name}
        WHERE satisfied_pct IS NOT NULL AND NOT (
            satisfied_pct BETWEEN 0 AND 100 AND ci_low >= -{_EPSILON} AND ci_high <= 100 + {_EPSILON}
            AND ci_low <= satisfied_pct + {_EPSILON} AND satisfied_pct <= ci_high + {_EPSILON})""")


def small_published_rows(conn: "duckdb.DuckDBPyConnection", table: tables.Table, suppress: int) -> int:
    if table is tables.GAP:
        return _count(conn, f"""
            SELECT count(*) FROM {table.name}
            WHERE (white_pct IS NOT NULL AND white_respondents < {suppress})
               OR (ethnic_minority_pct IS NOT NULL AND ethnic_minority_respondents < {suppress})
               OR (gap_pp IS NOT NULL AND suppressed)""")
    return _count(conn, f"""
        SELECT count(*) FROM {table.name}
        WHERE (NOT suppressed AND respondents < {suppress})
           OR (suppressed AND (satisfied_pct IS NOT NULL OR ci_low IS NOT NULL OR ci_high IS NOT NULL
                               OR respondents IS NOT NULL OR effective_n IS NOT NULL))""")


def base_mismatches(conn: "duckdb.DuckDBPyConnection") -> int:
    """Annual and DA monthly cells whose respondents differ from a recount of valid answers."""
    answers = tables.answers_sql()
    annual = f"""
        WITH recount AS (
            SELECT financial_year, question, coalesce(survey_strand, 'ALL') AS survey_strand,
                   coalesce(area, 'ALL') AS area, count(*) FILTER (WHERE code BETWEEN 1 AND 7) AS n
            FROM ({answers}) WHERE survey_strand <> 'DOMESTIC_ABUSE'
            GROUP BY GROUPING SETS ((financial_year, question), (financial_year, question, survey_strand),
                (financial_year, question, area), (financial_year, question, survey_strand, area)))
        SELECT count(*) FROM {tables.ANNUAL.name} a
        LEFT JOIN recount r USING (financial_year, question, survey_strand, area)
        WHERE NOT a.suppressed AND r.n IS DISTINCT FROM a.respondents"""
    monthly = f"""
        WITH recount AS (
            SELECT month, question, count(*) FILTER (WHERE code BETWEEN 1 AND 7) AS n
            FROM ({answers}) WHERE survey_strand = 'DOMESTIC_ABUSE' GROUP BY ALL)
        SELECT count(*) FROM {tables.DA_MONTHLY.name} d LEFT JOIN recount r USING (month, question)
        WHERE NOT d.suppressed AND r.n IS DISTINCT FROM d.respondents"""
    return _count(conn, annual) + (_count(conn, monthly) if table_exists(conn, tables.DA_MONTHLY.name) else 0)


def personal_data_findings(conn: "duckdb.DuckDBPyConnection") -> list[str]:
    """'table.column' names (never values) of marts columns named or holding like personal data."""
    columns = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position"
    ).fetchall()
    # Counts may be named after a reason (no_phone): only text and date columns can hold personal data.
    findings = [
        f"marts.{t}.{c} (name)" for t, c, kind in columns
        if kind in ("VARCHAR", "DATE") and conn.execute("SELECT regexp_matches(lower(?), ?)", [c, PERSONAL_COLUMN_PATTERN]).fetchone()[0]
    ]
    for table in sorted({t for t, _, _ in columns}):
        for column in [c for t, c, kind in columns if t == table and kind == "VARCHAR"]:
            hits = conn.execute(
                f'SELECT count(*) FROM marts."{table}" WHERE regexp_matches("{column}", ?) '
                f'OR regexp_matches("{column}", ?)',
                [PHONE_VALUE_PATTERN, CRIME_REFERENCE_PATTERN],
            ).fetchone()[0]
            if hits:
                findings.append(f"marts.{table}.{column} ({hits} values)")
    return findings


def _interval_check(table: tables.Table):
    # Blocking: a failed check stops the analysts' file (analytics_file) in the same run.
    @asset_check(asset=_asset(table), name=PERCENTAGES_IN_INTERVALS, blocking=True,
                 description="Every published percentage is within 0-100 and inside its 95% interval.")
    def _check(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.get_connection() as conn:
            failing = out_of_interval_rows(conn, table)
        return AssetCheckResult(passed=failing == 0, metadata={"failing_rows": failing})

    return _check


def _small_cell_check(table: tables.Table):
    @asset_check(asset=_asset(table), name=NO_SMALL_PUBLISHED_CELLS, blocking=True,
                 description="No published (non-suppressed) figure rests on fewer respondents than the threshold.")
    def _check(warehouse: WarehouseResource, annual: AnnualSettings) -> AssetCheckResult:
        with warehouse.get_connection() as conn:
            failing = small_published_rows(conn, table, annual.suppress_threshold)
        return AssetCheckResult(passed=failing == 0, metadata={"failing_rows": failing})

    return _check


@asset_check(asset="satisfaction_annual", name=BASES_MATCH_RESPONSES, blocking=True,
             description="Each cell's respondents equal the valid answers (codes 1-7) counted in marts.responses "
                         "(annual and domestic abuse monthly tables).")
def bases_match_responses(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        failing = base_mismatches(conn)
    return AssetCheckResult(passed=failing == 0, metadata={"failing_rows": failing})


def _personal_data_check(asset_name: str):
    @asset_check(asset=asset_name, name=NO_PERSONAL_DATA_IN_MARTS, blocking=True,
                 description="No marts column is named like personal data, and no marts text value looks like a UK "
                             "phone number or a crime reference.")
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.get_connection() as conn:
            findings = personal_data_findings(conn)
        return AssetCheckResult(
            passed=not findings, severity=AssetCheckSeverity.ERROR,
            metadata={"findings": MetadataValue.json(findings)},
        )

    return _check


# Per year: returns that arrive after a year was weighted leave that year unweighted (stale) until it is
# weighted again, and must not block the weighting of any other year.
@asset_check(asset="response_weights", name=EVERY_INTERVIEW_WEIGHTED, blocking=True,
             partitions_def=financial_year_partitions,
             description="Every completed interview of the year weighted has a positive calibrated weight.")
@each_partition
def every_interview_weighted(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    year = financial_year_of(context.partition_time_window.start.date())
    with warehouse.get_connection() as conn:
        unweighted = conn.execute("""
            SELECT count(*) FROM marts.responses r
            JOIN (SELECT * FROM marts.weighting_summary WHERE margin = 'ALL') s USING (financial_year)
            WHERE r.financial_year = ? AND r.outcome = 'COMPLETE'
              AND (r.survey_strand = 'DOMESTIC_ABUSE') = (s.survey = 'DOMESTIC_ABUSE')
              AND NOT coalesce(r.calibrated_weight > 0, false)""", [year]).fetchone()[0]
    return AssetCheckResult(passed=unweighted == 0, metadata={"unweighted_interviews": unweighted})


@asset_check(asset="response_weights", name=WEIGHTS_MEET_FRAME, blocking=False,
             description="The calibrated weights add up to the eligible victims within 5% per year and survey "
                         "(trimming can stop them on very small samples; the estimates are then less corrected).")
def weights_meet_frame(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        off_total = _count(conn, """
            SELECT count(*) FROM marts.weighting_summary s
            LEFT JOIN (SELECT financial_year, survey_strand = 'DOMESTIC_ABUSE' AS da, sum(calibrated_weight) AS w
                       FROM marts.responses WHERE outcome = 'COMPLETE' GROUP BY ALL) r
              ON r.financial_year = s.financial_year AND r.da = (s.survey = 'DOMESTIC_ABUSE')
            WHERE s.margin = 'ALL' AND s.respondents > 0
              AND abs(coalesce(r.w, 0) - s.frame_victims) > 0.05 * s.frame_victims""")
    return AssetCheckResult(passed=off_total == 0, severity=AssetCheckSeverity.WARN,
                            metadata={"surveys_off_frame_total": off_total})


def build_checks() -> list:
    return [
        *(_interval_check(t) for t in _ESTIMATE_TABLES),
        *(_small_cell_check(t) for t in (*_ESTIMATE_TABLES, tables.GAP)),
        bases_match_responses,
        every_interview_weighted,
        weights_meet_frame,
        _personal_data_check("responses"),
        _personal_data_check("annual_report"),
    ]
