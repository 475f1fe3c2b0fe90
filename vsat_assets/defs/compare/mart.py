"""marts.satisfaction_comparison: the force against England and Wales, its most similar group and its
previous year, per financial year, question and strand (whole force), with the test of stats.py.

The force's figure is its own published cell of marts.satisfaction_annual (area ALL), so it
inherits that table's primary and secondary suppression; a year the platform did not survey
may come from a FORCE row of the comparator files instead. Only published figures are
compared: a suppressed side publishes nothing here, and a side under the low-base threshold is
shown but not tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from vsat_assets.defs.compare import files, stats
from vsat_assets.partitions import financial_year_of
from vsat_assets.vocabulary import ALL

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

TABLE = "marts.satisfaction_comparison"
ANNUAL = "marts.satisfaction_annual"
PREVIOUS_YEAR = "PREVIOUS_YEAR"
COMPARATORS = ((files.ENGLAND_AND_WALES, "England and Wales"), (files.MSG, "the most similar group"),
               (PREVIOUS_YEAR, "the previous year"))
COMPARATOR_LABELS = dict(COMPARATORS)
SURVEY = "survey"
COLUMNS = (
    ("financial_year", "VARCHAR", "Financial year of the force's figure, '2025/26'."),
    ("year_start", "DATE", "First day of the financial year."),
    ("question", "VARCHAR", "The question."),
    ("survey_strand", "VARCHAR", "Survey strand; 'ALL' = the general survey. Whole force (no area)."),
    ("comparator", "VARCHAR", "E&W (England and Wales), MSG (the force's most similar group) or PREVIOUS_YEAR."),
    ("comparator_period", "VARCHAR", "Financial year of the comparator's figure."),
    ("force_respondents", "BIGINT", "The force's base; null if suppressed."),
    ("force_pct", "DOUBLE", "The force's % satisfied; null if suppressed."),
    ("force_ci_low", "DOUBLE", "95% interval, lower bound."),
    ("force_ci_high", "DOUBLE", "95% interval, upper bound."),
    ("force_source", "VARCHAR", "'survey' (marts.satisfaction_annual) or the comparator file it came from."),
    ("comparator_respondents", "BIGINT", "The comparator's base, when published."),
    ("comparator_pct", "DOUBLE", "The comparator's % satisfied; null if suppressed."),
    ("comparator_ci_low", "DOUBLE", "95% interval, lower bound (a published ± is taken as symmetric)."),
    ("comparator_ci_high", "DOUBLE", "95% interval, upper bound."),
    ("comparator_source", "VARCHAR", "'survey' or the comparator file it came from."),
    ("force_share", "DOUBLE", "The force's share of the comparator's population (0 for the previous year)."),
    ("difference_pp", "DOUBLE", "force_pct minus comparator_pct, points; null unless both are published."),
    ("difference_ci_low", "DOUBLE", "95% interval of the difference, allowing for the force being part of the comparator."),
    ("difference_ci_high", "DOUBLE", "95% interval of the difference, upper bound."),
    ("p_value", "DOUBLE", "Two-sided p-value of the difference; null unless tested."),
    ("significant", "BOOLEAN", "The difference's 95% interval excludes 0; null unless both bases reach the low-base threshold."),
    ("significant_fdr", "BOOLEAN", "Significant after Benjamini-Hochberg (5%) over the year's comparison tests."),
    ("verdict", "VARCHAR", "'higher than', 'broadly in line with' or 'lower than', as the test says; null unless tested."),
    ("low_base", "BOOLEAN", "Either side has fewer respondents than the low-base threshold: not tested."),
    ("suppressed", "BOOLEAN", "Either side is suppressed: no difference published."),
)
NAMES = tuple(n for n, _, _ in COLUMNS)


@dataclass(frozen=True)
class Side:
    period: str
    pct: float | None
    ci_low: float | None
    ci_high: float | None
    respondents: int | None
    low_base: bool
    suppressed: bool
    source: str
    share: float = 0.0

    @property
    def half(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def _own_side(row: dict) -> Side:
    if row["suppressed"]:
        return Side(row["financial_year"], None, None, None, None, False, True, SURVEY)
    return Side(row["financial_year"], row["satisfied_pct"], row["ci_low"], row["ci_high"], row["respondents"],
                bool(row["low_base"]), False, SURVEY)


def _file_side(f: dict, low_base: int, suppress: int) -> Side:
    base, share = f["base"], f["force_share"] or 0.0
    if base is not None and base < suppress:
        return Side(f["period"], None, None, None, None, False, True, f["source_file"], share)
    h = f["half_width"]
    return Side(f["period"], f["estimate"], max(0.0, f["estimate"] - h), min(100.0, f["estimate"] + h), base,
                base is not None and base < low_base, False, f["source_file"], share)


def _dicts(conn, sql: str, params: list) -> list[dict]:
    result = conn.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, r)) for r in result.fetchall()]


def comparison_rows(conn: duckdb.DuckDBPyConnection, start: date, end: date, force_code: str,
                    low_base: int, suppress: int) -> list[tuple]:
    """The mart's rows for the financial years starting in [start, end)."""
    from vsat_assets.defs.annual.disclosure import benjamini_hochberg
    from vsat_assets.warehouse import table_exists

    own = {} if not table_exists(conn, ANNUAL) else {
        (r["financial_year"], r["question"], r["survey_strand"]): _own_side(r)
        for r in _dicts(conn, f"SELECT * FROM {ANNUAL} WHERE area = '{ALL}' AND year_start >= ? AND year_start < ?",
                        [date(start.year - 1, 4, 1), end])}
    published = {} if not table_exists(conn, files.TABLE) else {
        (f["comparator"], f["period"], f["question"], f["survey_strand"]): _file_side(f, low_base, suppress)
        for f in _dicts(conn, f"SELECT * FROM {files.TABLE} WHERE force = ?", [force_code])}

    def force_side(year: str, question: str, strand: str) -> Side | None:
        return own.get((year, question, strand)) or published.get((files.FORCE, year, question, strand))

    out = []
    for year_start in [date(y, 4, 1) for y in range(start.year, end.year) if start <= date(y, 4, 1) < end]:
        year, previous = financial_year_of(year_start), financial_year_of(date(year_start.year - 1, 4, 1))
        cells = {(q, s) for (y, q, s) in own if y == year}
        cells |= {(q, s) for (c, y, q, s) in published if c == files.FORCE and y == year}
        tests, rows = [], []
        for question, strand in sorted(cells):
            force = force_side(year, question, strand)
            against = {files.ENGLAND_AND_WALES: published.get((files.ENGLAND_AND_WALES, year, question, strand)),
                       files.MSG: published.get((files.MSG, year, question, strand)),
                       PREVIOUS_YEAR: force_side(previous, question, strand)}
            for comparator, other in against.items():
                if other is None:
                    continue
                row = _row(year, year_start, question, strand, comparator, force, other)
                if row["p_value"] is not None:
                    tests.append((len(rows), row["p_value"]))
                rows.append(row)
        for (i, _), flag in zip(tests, benjamini_hochberg([p for _, p in tests])):
            rows[i]["significant_fdr"] = flag
        out += [tuple(r[n] for n in NAMES) for r in rows]
    return out


def _row(year: str, year_start: date, question: str, strand: str, comparator: str, force: Side, other: Side) -> dict:
    row = dict.fromkeys(NAMES)
    row.update(financial_year=year, year_start=year_start, question=question, survey_strand=strand,
               comparator=comparator, comparator_period=other.period, force_source=force.source,
               comparator_source=other.source, force_share=other.share,
               suppressed=force.suppressed or other.suppressed)
    if not force.suppressed:
        row.update(force_respondents=force.respondents, force_pct=force.pct, force_ci_low=force.ci_low,
                   force_ci_high=force.ci_high)
    if not other.suppressed:
        row.update(comparator_respondents=other.respondents, comparator_pct=other.pct,
                   comparator_ci_low=other.ci_low, comparator_ci_high=other.ci_high)
    if row["suppressed"]:
        return row
    test = stats.compare(force.pct, force.half, other.pct, other.half, other.share)
    row.update(difference_pp=test.difference, difference_ci_low=test.difference - test.half_width,
               difference_ci_high=test.difference + test.half_width, low_base=force.low_base or other.low_base)
    if not row["low_base"]:
        row.update(p_value=test.p_value, significant=test.significant, significant_fdr=False, verdict=test.verdict)
    return row


def write(conn: duckdb.DuckDBPyConnection, start: date, end: date, force_code: str, low_base: int,
          suppress: int) -> int:
    """Replace the years in [start, end) in one transaction; rows written."""
    from vsat_assets.warehouse import ensure_schemas, replace_window

    ensure_schemas(conn)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(f'{n} {t}' for n, t, _ in COLUMNS)})")
    rows = comparison_rows(conn, start, end, force_code, low_base, suppress)

    def insert(c) -> int:
        if rows:
            c.executemany(f"INSERT INTO {TABLE} ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})", rows)
        return len(rows)

    return replace_window(conn, TABLE, "year_start", start, end, insert)
