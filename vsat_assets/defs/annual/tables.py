"""The satisfaction marts: SQL built from design.py (Taylor-linearised estimates), and how each is written.

Each table is computed from `marts.responses` (completed interviews only), so an analyst can
recompute any cell from there. Formulas: design.py; disclosure control and significance: disclosure.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Callable

from vsat_assets.defs.annual import design
from vsat_assets.vocabulary import ALL, QUESTIONS
from vsat_assets.warehouse import ensure_schemas, replace_window, transaction

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

RESPONSES = "marts.responses"
ROLLING_WEIGHTS = "intermediate.rolling_weights"  # written by weighting.calibrate_rolling

_ESTIMATE_COLUMNS = (
    ("respondents", "BIGINT", "Unweighted base: valid answers (codes 1-7); null if suppressed."),
    ("satisfied_pct", "DOUBLE", "Weighted % satisfied (codes 1-3 of 1-7, weights calibrated_weight); null if suppressed."),
    ("ci_low", "DOUBLE", "95% interval, lower bound (Wilson on the design-based effective n); null if suppressed."),
    ("ci_high", "DOUBLE", "95% interval, upper bound; null if suppressed."),
    ("low_base", "BOOLEAN", "Fewer respondents than the low-base threshold (default 50); null if suppressed."),
    ("suppressed", "BOOLEAN", "Not published: under the suppression threshold (default 10), or suppressed so that no such cell can be recovered from published totals."),
    ("effective_n", "DOUBLE", "Design-based effective sample size p(1-p)/v(p) (Kish's when v = 0); null if suppressed."),
    ("standard_error", "DOUBLE", "Standard error of satisfied_pct in points (Taylor linearisation over strata); null if suppressed."),
    ("satisfied_pct_design", "DOUBLE", "% satisfied weighted by design_weight only (no non-response adjustment); null if suppressed."),
    ("completely_or_very_pct", "DOUBLE", "Weighted % completely or very satisfied (codes 1-2 of 1-7); null if suppressed."),
    ("completely_or_very_ci_low", "DOUBLE", "95% interval of completely_or_very_pct, lower bound."),
    ("completely_or_very_ci_high", "DOUBLE", "95% interval of completely_or_very_pct, upper bound."),
    ("dont_know_pct", "DOUBLE", "Weighted % of interviews answering the question with don't know (code 8); null if suppressed."),
    ("not_applicable_pct", "DOUBLE", "Weighted % answering not applicable (code 9); null if suppressed."),
)
ESTIMATE_NAMES = tuple(name for name, _, _ in _ESTIMATE_COLUMNS)


@dataclass(frozen=True)
class Thresholds:
    low_base: int = 50
    suppress: int = 10


@dataclass(frozen=True)
class Table:
    name: str  # qualified, e.g. marts.satisfaction_annual
    columns: tuple[tuple[str, str, str], ...]  # (name, type, description)
    window_column: str | None  # None: rebuilt whole
    # column -> its value for rows written before the column was added (windowed tables keep old rows)
    added_columns: tuple[tuple[str, str], ...] = ()

    def ddl(self) -> str:
        return ", ".join(f"{name} {kind}" for name, kind, _ in self.columns)


def answers_sql(where: str = "true") -> str:
    """Completed interviews as a long table: one row per interview x question (code may be null)."""
    return f"""
        select * from (select * from {RESPONSES} where outcome = 'COMPLETE' and ({where}))
        unpivot include nulls (code for question in ({", ".join(QUESTIONS)}))"""


ANNUAL = Table(
    "marts.satisfaction_annual",
    (
        ("financial_year", "VARCHAR", "Financial year, '2025/26' (April to March, by sampling month)."),
        ("year_start", "DATE", "First day of the financial year."),
        ("question", "VARCHAR", f"{', '.join(QUESTIONS[:-1])} or {QUESTIONS[-1]}."),
        ("survey_strand", "VARCHAR", "Survey strand; 'ALL' = the general survey (every strand but DOMESTIC_ABUSE)."),
        ("area", "VARCHAR", "Policing area; 'ALL' = the whole force."),
        *_ESTIMATE_COLUMNS,
        ("change_vs_previous_pp", "DOUBLE", "satisfied_pct minus the previous year's, in points; null unless both are published on at least the low-base threshold."),
        ("change_p_value", "DOUBLE", "Two-sided p-value of the change, z = change / sqrt(se1^2 + se2^2)."),
        ("change_significant", "BOOLEAN", "|change| > sqrt(h1^2 + h2^2), h = interval half-widths (SCJS rule); null as change."),
        ("change_significant_fdr", "BOOLEAN", "Significant after Benjamini-Hochberg (5% false discovery rate) over all the year's change tests."),
    ),
    "year_start",
)
_GROUPING = """(financial_year, question), (financial_year, question, survey_strand),
            (financial_year, question, area), (financial_year, question, survey_strand, area)"""


def annual_sql(t: Thresholds, start: date, end: date) -> str:
    """Cells of the financial years in [start, end): force, strand, area and strand x area.

    Weights: calibrated_weight; variance strata: strand x area. Changes and secondary
    suppression are added by `finalise_annual` (they need the whole year's cells)."""
    answers = answers_sql(
        f"month_start >= DATE '{start}' and month_start < DATE '{end}' and survey_strand <> 'DOMESTIC_ABUSE'"
    )
    return f"""
    select financial_year, make_date(cast(left(financial_year, 4) as integer), 4, 1) as year_start, question,
           coalesce(survey_strand, '{ALL}') as survey_strand, coalesce(area, '{ALL}') as area,
           {design.estimates(t.suppress, t.low_base)},
           null::double as change_vs_previous_pp, null::double as change_p_value,
           null::boolean as change_significant, null::boolean as change_significant_fdr
    from (
        select financial_year, question, survey_strand, area, {design.summed()}
        from (select financial_year, question, survey_strand, area, {design.stratum_sums('calibrated_weight')}
              from ({answers}) group by all)
        group by grouping sets ({_GROUPING})
    )
    """


GAP = Table(
    "marts.satisfaction_gap",
    (
        ("financial_year", "VARCHAR", "Financial year, '2025/26'."),
        ("year_start", "DATE", "First day of the financial year."),
        ("question", "VARCHAR", "The question (whole_experience is the national indicator SPI 1.2)."),
        ("white_respondents", "BIGINT", "Base of white victims (general survey); null if suppressed."),
        ("white_pct", "DOUBLE", "Weighted % satisfied, white victims; null if suppressed."),
        ("white_ci_low", "DOUBLE", "95% interval, lower bound."),
        ("white_ci_high", "DOUBLE", "95% interval, upper bound."),
        ("ethnic_minority_respondents", "BIGINT", "Base of ethnic-minority victims (mixed, Asian, Black, other); 0 when none answered, null if suppressed."),
        ("ethnic_minority_pct", "DOUBLE", "Weighted % satisfied, ethnic-minority victims; null if suppressed."),
        ("ethnic_minority_ci_low", "DOUBLE", "95% interval, lower bound."),
        ("ethnic_minority_ci_high", "DOUBLE", "95% interval, upper bound."),
        ("gap_pp", "DOUBLE", "white_pct minus ethnic_minority_pct, points; null if either is suppressed."),
        ("white_se", "DOUBLE", "Standard error of white_pct, points."),
        ("ethnic_minority_se", "DOUBLE", "Standard error of ethnic_minority_pct, points."),
        ("gap_p_value", "DOUBLE", "Two-sided p-value of the gap (domain estimates, Taylor standard errors); null unless both bases reach the low-base threshold."),
        ("gap_significant", "BOOLEAN", "|gap| > sqrt(h1^2 + h2^2) (same rule as year-on-year change); null unless both bases reach the low-base threshold."),
        ("gap_significant_fdr", "BOOLEAN", "Significant after Benjamini-Hochberg (5%) over the year's five gap tests."),
        ("low_base", "BOOLEAN", "Either group is under the low-base threshold."),
        ("suppressed", "BOOLEAN", "Either group is under the suppression threshold."),
    ),
    "year_start",
)


def gap_sql(t: Thresholds, start: date, end: date) -> str:
    answers = answers_sql(
        f"month_start >= DATE '{start}' and month_start < DATE '{end}' and survey_strand <> 'DOMESTIC_ABUSE'"
    )
    # Domain estimation: sums over the group's respondents, n_h over the whole stratum.
    return f"""
    with answers as ({answers}),
    strata as (
        select financial_year, question, survey_strand, area, count(*) filter (where code between 1 and 7) as n_h
        from answers group by all
    ),
    groups as (
        select financial_year, question, ethnic_group, {design.estimates(t.suppress, t.low_base)}
        from (
            select financial_year, question, ethnic_group, {design.summed()}
            from (select financial_year, question, ethnic_group, survey_strand, area,
                         {design.stratum_sums('calibrated_weight', n_h='any_value(n_h)')}
                  from answers join strata using (financial_year, question, survey_strand, area)
                  where ethnic_group in ('WHITE', 'ETHNIC_MINORITY') group by all)
            group by all
        )
    )
    select
        w.financial_year,
        make_date(cast(left(w.financial_year, 4) as integer), 4, 1) as year_start,
        w.question,
        w.respondents as white_respondents, w.satisfied_pct as white_pct,
        w.ci_low as white_ci_low, w.ci_high as white_ci_high,
        case when m.financial_year is null then 0 else m.respondents end as ethnic_minority_respondents, m.satisfied_pct as ethnic_minority_pct,
        m.ci_low as ethnic_minority_ci_low, m.ci_high as ethnic_minority_ci_high,
        w.satisfied_pct - m.satisfied_pct as gap_pp,
        null::double as gap_p_value,
        case when w.respondents >= {int(t.low_base)} and m.respondents >= {int(t.low_base)} then
            abs(w.satisfied_pct - m.satisfied_pct) > sqrt(
                power((w.ci_high - w.ci_low) / 2, 2) + power((m.ci_high - m.ci_low) / 2, 2)) end as gap_significant,
        null::boolean as gap_significant_fdr,
        coalesce(w.low_base or m.low_base, true) as low_base,
        coalesce(w.suppressed or m.suppressed, true) as suppressed,
        w.standard_error as white_se, m.standard_error as ethnic_minority_se
    from (select * from groups where ethnic_group = 'WHITE') w
    left join (select * from groups where ethnic_group = 'ETHNIC_MINORITY') m using (financial_year, question)
    """


ROLLING = Table(
    "marts.satisfaction_rolling",
    (
        ("period_end_month", "VARCHAR", "Last month of the period, 'YYYY-MM' (quarter ends: June, September, December, March)."),
        ("period_end", "DATE", "First day of the last month."),
        ("first_month", "VARCHAR", "First month of the period, 'YYYY-MM': 11 months before the last, or the survey's first month."),
        ("months_covered", "BIGINT", "Months in the period, first to last: 12, or fewer early in the series."),
        ("partial", "BOOLEAN", "The period has fewer than 12 months (the survey began less than a year before its end)."),
        ("label", "VARCHAR", "'12 months to June 2025'; a partial period says so: '3 months to June 2023 (partial)'."),
        *_ESTIMATE_COLUMNS,
    ),
    None,
)


def rolling_sql(t: Thresholds) -> str:
    """Whole experience over the 12 months to each quarter end that has returns, from the survey's
    first month with returns; periods that began before it are partial and labelled by their length.

    Periods and weights: intermediate.rolling_weights (weighting.calibrate_rolling), each period's
    respondents calibrated to the eligible victims of its own months; variance strata: strand x area."""
    answers = answers_sql("survey_strand <> 'DOMESTIC_ABUSE'")
    return f"""
    with answers as (select * from ({answers}) where question = 'whole_experience'),
    periods as (
        select distinct period_end, period_start, date_diff('month', period_start, period_end) + 1 as months_covered
        from {ROLLING_WEIGHTS}
    ),
    strata as (
        select period_end, survey_strand, area, {design.stratum_sums('rolling_weight')}
        from {ROLLING_WEIGHTS} join answers using (survey_id)
        group by all
    )
    select
        strftime(period_end, '%Y-%m') as period_end_month,
        period_end,
        strftime(period_start, '%Y-%m') as first_month,
        months_covered,
        months_covered < 12 as partial,
        months_covered || case when months_covered = 1 then ' month' else ' months' end
            || ' to ' || strftime(period_end, '%B %Y')
            || case when months_covered < 12 then ' (partial)' else '' end as label,
        {design.estimates(t.suppress, t.low_base)}
    from (select period_end, {design.summed()} from strata group by all) join periods using (period_end)
    """


DA_MONTHLY = Table(
    "marts.satisfaction_da_monthly",
    (
        ("month", "VARCHAR", "Sampling month, 'YYYY-MM'."),
        ("month_start", "DATE", "First day of the month."),
        ("question", "VARCHAR", "The question."),
        *_ESTIMATE_COLUMNS,
    ),
    "month_start",
)


def da_monthly_sql(t: Thresholds, start: date, end: date) -> str:
    """Weights: calibrated_weight (the domestic abuse survey is calibrated month by month to its own
    frame, weighting.calibrate_year); strata: area."""
    answers = answers_sql(
        f"month_start >= DATE '{start}' and month_start < DATE '{end}' and survey_strand = 'DOMESTIC_ABUSE'"
    )
    return f"""
    select month, month_start, question, {design.estimates(t.suppress, t.low_base)}
    from (
        select month, month_start, question, {design.summed()}
        from (select month, month_start, question, area, {design.stratum_sums('calibrated_weight')}
              from ({answers}) group by all)
        group by all
    )
    """


DA_QUARTERLY = Table(
    "marts.satisfaction_da_quarterly",
    (
        ("period_end_month", "VARCHAR", "Last month of the three, 'YYYY-MM' (a rolling quarter ends every month)."),
        ("period_end", "DATE", "First day of the last month."),
        ("label", "VARCHAR", "'3 months to June 2025'; a partial quarter says so: '3 months to April 2024 (partial: 1 month with interviews)'."),
        ("months_covered", "BIGINT", "Months of the three with completed interviews (under 3: a partial quarter)."),
        ("partial", "BOOLEAN", "Fewer than 3 of the quarter's months have completed interviews (e.g. the survey's first two months)."),
        ("question", "VARCHAR", "The question."),
        *_ESTIMATE_COLUMNS,
    ),
    "period_end",
    added_columns=(("partial", "months_covered < 3"),),
)


def da_quarterly_sql(t: Thresholds, start: date, end: date) -> str:
    """Rolling quarters ending in each month of [start, end); strata: area x month; weights:
    calibrated_weight, each month's calibrated to its own frame, so the quarter's add to its three.

    Months with no interview at all publish nothing to protect, so only months with 1 to
    suppress - 1 valid answers hide their quarters."""
    answers = answers_sql(
        f"month_start >= DATE '{start}' - interval 2 month and month_start < DATE '{end}'"
        " and survey_strand = 'DOMESTIC_ABUSE'"
    )
    return f"""
    with answers as ({answers}),
    periods as (
        select unnest(generate_series(DATE '{start}', DATE '{end}' - interval 1 month, interval 1 month))::DATE
            as period_end
    ),
    strata as (
        select period_end, question, area, month_start, {design.stratum_sums('calibrated_weight')}
        from periods join answers on month_start > period_end - interval 3 month and month_start <= period_end
        group by all
    ),
    -- A quarter holding a suppressed month is suppressed too: else quarter minus the other two
    -- published months would give the month away.
    small_months as (
        select period_end, question, bool_or(month_n between 1 and {int(t.suppress) - 1}) as has_small_month
        from (select period_end, question, month_start, sum(n) as month_n from strata group by all)
        group by all
    )
    select strftime(period_end, '%Y-%m') as period_end_month, period_end,
           '3 months to ' || strftime(period_end, '%B %Y') || case
               when months_covered = 1 then ' (partial: 1 month with interviews)'
               when months_covered < 3 then ' (partial: ' || months_covered || ' months with interviews)'
               else '' end as label,
           months_covered, months_covered < 3 as partial, question,
           {design.estimates(t.suppress, t.low_base, hide='has_small_month')}
    from (select period_end, question, count(distinct month_start) as months_covered, {design.summed()}
          from strata group by all)
    join small_months using (period_end, question)
    """


def write(conn: duckdb.DuckDBPyConnection, table: Table, query: str, window: tuple[date, date] | None,
          finalise: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
          prepare: Callable[[duckdb.DuckDBPyConnection], object] | None = None) -> int:
    """Replace the table (or its window) with the query's rows, then run `finalise` (secondary
    suppression, significance), all in one transaction, after `prepare` (the weights the query
    reads) in the same transaction; rows written."""
    names = ", ".join(name for name, _, _ in table.columns)
    ensure_schemas(conn)
    insert = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM ({query})"

    def run(c: duckdb.DuckDBPyConnection) -> int:
        if prepare:
            prepare(c)
        written = c.execute(insert).fetchall()[0][0]
        if finalise:
            finalise(c)
        return written

    if window is None:
        with transaction(conn):
            conn.execute(f"CREATE OR REPLACE TABLE {table.name} ({table.ddl()})")
            return run(conn)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.name} ({table.ddl()})")
    _add_missing_columns(conn, table)
    return replace_window(conn, table.name, table.window_column, *window, run)


def _add_missing_columns(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    """A windowed table made before a column was added gets it, filled in for the rows it keeps."""
    kinds = {name: kind for name, kind, _ in table.columns}
    for column, value in table.added_columns:
        missing = not conn.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE schema_name || '.' || table_name = ? AND column_name = ?",
            [table.name, column]).fetchall()[0][0]
        if missing:
            conn.execute(f"ALTER TABLE {table.name} ADD COLUMN {column} {kinds[column]}")
            conn.execute(f"UPDATE {table.name} SET {column} = {value}")
