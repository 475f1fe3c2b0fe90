"""The satisfaction marts: SQL built from stats.satisfaction_sql_select, and how each is written.

Each table is computed from `marts.responses` (completed interviews only), so an analyst can
recompute any cell from there. Formulas and thresholds: see stats.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from vsat_assets.annual.stats import satisfaction_sql_select
from vsat_assets.warehouse import ensure_schemas, replace_window, transaction

QUESTIONS = ("ease_of_contact", "actions_taken", "kept_informed", "treatment", "whole_experience")
ALL = "ALL"
RESPONSES = "marts.responses"

_ESTIMATE_COLUMNS = (
    ("respondents", "BIGINT", "Unweighted base: valid answers (codes 1-7)."),
    ("satisfied_pct", "DOUBLE", "Weighted % satisfied (codes 1-3 of 1-7, weights design_weight); null if suppressed."),
    ("ci_low", "DOUBLE", "95% interval, lower bound (Wilson on the Kish effective n); null if suppressed."),
    ("ci_high", "DOUBLE", "95% interval, upper bound; null if suppressed."),
    ("low_base", "BOOLEAN", "Fewer respondents than the low-base threshold (default 50)."),
    ("suppressed", "BOOLEAN", "Fewer respondents than the suppression threshold (default 10): not published."),
    ("effective_n", "DOUBLE", "Kish effective sample size (sum w)^2 / sum(w^2) of the base."),
)


@dataclass(frozen=True)
class Thresholds:
    low_base: int = 50
    suppress: int = 10


@dataclass(frozen=True)
class Table:
    name: str  # qualified, e.g. marts.satisfaction_annual
    columns: tuple[tuple[str, str, str], ...]  # (name, type, description)
    window_column: str | None  # None: rebuilt whole

    def ddl(self) -> str:
        return ", ".join(f"{name} {kind}" for name, kind, _ in self.columns)


def _stats(t: Thresholds) -> str:
    return satisfaction_sql_select(
        "code", "design_weight", low_base_threshold=t.low_base, suppress_threshold=t.suppress
    )


def answers_sql(where: str = "true") -> str:
    """Completed interviews as a long table: one row per interview x question (code may be null)."""
    return f"""
        select * from (select * from {RESPONSES} where outcome = 'COMPLETE' and ({where}))
        unpivot include nulls (code for question in ({", ".join(QUESTIONS)}))"""


def _published(t: Thresholds, expr: str) -> str:
    return f"case when count(*) filter (where code between 1 and 7) >= {int(t.suppress)} then {expr} end"


ANNUAL = Table(
    "marts.satisfaction_annual",
    (
        ("financial_year", "VARCHAR", "Financial year, '2025/26' (April to March, by sampling month)."),
        ("year_start", "DATE", "First day of the financial year."),
        ("question", "VARCHAR", "ease_of_contact, actions_taken, kept_informed, treatment or whole_experience."),
        ("survey_strand", "VARCHAR", "Survey strand; 'ALL' = the general survey (every strand but DOMESTIC_ABUSE)."),
        ("area", "VARCHAR", "Policing area; 'ALL' = the whole force."),
        *_ESTIMATE_COLUMNS,
        ("completely_or_very_pct", "DOUBLE", "Weighted % completely or very satisfied (codes 1-2); null if suppressed."),
        ("change_vs_previous_pp", "DOUBLE", "satisfied_pct minus the previous year's, in points; null if either is unpublished."),
        ("change_significant", "BOOLEAN", "|change| > sqrt(h1^2 + h2^2), h = interval half-widths; null as above."),
    ),
    "year_start",
)


def annual_sql(t: Thresholds, start: date, end: date) -> str:
    """Cells for the financial years in [start, end), each with its change from the year before."""
    previous_start = date(start.year - 1, start.month, start.day)
    answers = answers_sql(
        f"month_start >= DATE '{previous_start}' and month_start < DATE '{end}' and survey_strand <> 'DOMESTIC_ABUSE'"
    )
    completely_or_very = _published(
        t,
        "100.0 * coalesce(sum(design_weight) filter (where code between 1 and 2), 0.0)"
        " / nullif(sum(design_weight) filter (where code between 1 and 7), 0.0)",
    )
    return f"""
    with cells as (
        select
            financial_year,
            make_date(cast(left(financial_year, 4) as integer), 4, 1) as year_start,
            question,
            coalesce(survey_strand, '{ALL}') as survey_strand,
            coalesce(area, '{ALL}') as area,
            {_stats(t)},
            {completely_or_very} as completely_or_very_pct
        from ({answers})
        group by grouping sets (
            (financial_year, question), (financial_year, question, survey_strand),
            (financial_year, question, area), (financial_year, question, survey_strand, area)
        )
    )
    select
        cur.*,
        cur.satisfied_pct - prev.satisfied_pct as change_vs_previous_pp,
        abs(cur.satisfied_pct - prev.satisfied_pct) > sqrt(
            power((cur.ci_high - cur.ci_low) / 2, 2) + power((prev.ci_high - prev.ci_low) / 2, 2)
        ) as change_significant
    from cells cur
    left join cells prev
        on prev.year_start = cur.year_start - interval 1 year
        and prev.question = cur.question and prev.survey_strand = cur.survey_strand and prev.area = cur.area
    where cur.year_start >= DATE '{start}' and cur.year_start < DATE '{end}'
    """


GAP = Table(
    "marts.satisfaction_gap",
    (
        ("financial_year", "VARCHAR", "Financial year, '2025/26'."),
        ("year_start", "DATE", "First day of the financial year."),
        ("question", "VARCHAR", "The question (whole_experience is the national indicator SPI 1.2)."),
        ("white_respondents", "BIGINT", "Base of white victims (general survey)."),
        ("white_pct", "DOUBLE", "Weighted % satisfied, white victims; null if suppressed."),
        ("white_ci_low", "DOUBLE", "95% interval, lower bound."),
        ("white_ci_high", "DOUBLE", "95% interval, upper bound."),
        ("ethnic_minority_respondents", "BIGINT", "Base of ethnic-minority victims (mixed, Asian, Black, other)."),
        ("ethnic_minority_pct", "DOUBLE", "Weighted % satisfied, ethnic-minority victims; null if suppressed."),
        ("ethnic_minority_ci_low", "DOUBLE", "95% interval, lower bound."),
        ("ethnic_minority_ci_high", "DOUBLE", "95% interval, upper bound."),
        ("gap_pp", "DOUBLE", "white_pct minus ethnic_minority_pct, points; null if either is suppressed."),
        ("gap_significant", "BOOLEAN", "|gap| > sqrt(h1^2 + h2^2) (same rule as year-on-year change)."),
        ("low_base", "BOOLEAN", "Either group is under the low-base threshold."),
        ("suppressed", "BOOLEAN", "Either group is under the suppression threshold."),
    ),
    "year_start",
)


def gap_sql(t: Thresholds, start: date, end: date) -> str:
    answers = answers_sql(
        f"month_start >= DATE '{start}' and month_start < DATE '{end}' and survey_strand <> 'DOMESTIC_ABUSE'"
        " and ethnic_group in ('WHITE', 'ETHNIC_MINORITY')"
    )
    return f"""
    with groups as (
        select financial_year, question, ethnic_group, {_stats(t)}
        from ({answers}) group by all
    )
    select
        w.financial_year,
        make_date(cast(left(w.financial_year, 4) as integer), 4, 1) as year_start,
        w.question,
        w.respondents as white_respondents, w.satisfied_pct as white_pct,
        w.ci_low as white_ci_low, w.ci_high as white_ci_high,
        coalesce(m.respondents, 0) as ethnic_minority_respondents, m.satisfied_pct as ethnic_minority_pct,
        m.ci_low as ethnic_minority_ci_low, m.ci_high as ethnic_minority_ci_high,
        w.satisfied_pct - m.satisfied_pct as gap_pp,
        abs(w.satisfied_pct - m.satisfied_pct) > sqrt(
            power((w.ci_high - w.ci_low) / 2, 2) + power((m.ci_high - m.ci_low) / 2, 2)
        ) as gap_significant,
        coalesce(w.low_base or m.low_base, true) as low_base,
        coalesce(w.suppressed or m.suppressed, true) as suppressed
    from (select * from groups where ethnic_group = 'WHITE') w
    left join (select * from groups where ethnic_group = 'ETHNIC_MINORITY') m using (financial_year, question)
    """


ROLLING = Table(
    "marts.satisfaction_rolling",
    (
        ("period_end_month", "VARCHAR", "Last month of the 12, 'YYYY-MM' (quarter ends: June, September, December, March)."),
        ("period_end", "DATE", "First day of the last month."),
        ("label", "VARCHAR", "'12 months to June 2025'."),
        ("months_covered", "BIGINT", "Months of the 12 with completed interviews (under 12 early in the series)."),
        *_ESTIMATE_COLUMNS,
    ),
    None,
)


def rolling_sql(t: Thresholds) -> str:
    answers = answers_sql("survey_strand <> 'DOMESTIC_ABUSE'")
    return f"""
    with answers as (select * from ({answers}) where question = 'whole_experience'),
    bounds as (select min(month_start) as first, max(month_start) as last from answers),
    periods as (
        select unnest(generate_series(
            -- first quarter-end month (3, 6, 9, 12) on or after the first month with data
            date_trunc('quarter', first) + interval 2 month, last, interval 3 month
        ))::DATE as period_end
        from bounds
    )
    select
        strftime(period_end, '%Y-%m') as period_end_month,
        period_end,
        '12 months to ' || strftime(period_end, '%B %Y') as label,
        count(distinct month_start) as months_covered,
        {_stats(t)}
    from periods
    join answers on month_start > period_end - interval 12 month and month_start <= period_end
    group by period_end
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
    answers = answers_sql(
        f"month_start >= DATE '{start}' and month_start < DATE '{end}' and survey_strand = 'DOMESTIC_ABUSE'"
    )
    return f"""
    select month, month_start, question, {_stats(t)}
    from ({answers}) group by all
    """


def write(conn: duckdb.DuckDBPyConnection, table: Table, query: str, window: tuple[date, date] | None) -> int:
    """Replace the table (or its window) with the query's rows in one transaction; rows written."""
    names = ", ".join(name for name, _, _ in table.columns)
    ensure_schemas(conn)
    insert = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM ({query})"
    if window is None:
        with transaction(conn):
            conn.execute(f"CREATE OR REPLACE TABLE {table.name} ({table.ddl()})")
            return conn.execute(insert).fetchall()[0][0]
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.name} ({table.ddl()})")
    return replace_window(conn, table.name, table.window_column, *window, lambda c: c.execute(insert).fetchall()[0][0])
