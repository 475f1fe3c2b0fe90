"""The force's national extract: what it publishes for the national comparison (docs/national.md).

One CSV per financial year, `exports/national_vsat_YYYY-YY.csv`, one row per question and strand
of the whole force (area ALL) of `marts.satisfaction_annual`, with what the national stage needs to
combine forces: the standard error from the force's own design and the force's weighted population
(the eligible victims its calibrated weights sum to, `marts.weighting_summary.frame_victims`).
Aggregate, disclosure-controlled figures only: a suppressed cell keeps its row with every figure
blank, as in the HMICFRS export. No respondent-level row ever leaves the force.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vsat_assets.atomic import write_csv_atomically
from vsat_assets.vocabulary import ALL, QUESTIONS

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

COLUMNS = ("force_code", "financial_year", "question", "survey_strand", "respondents", "satisfied_pct",
           "standard_error", "ci_low", "ci_high", "low_base", "suppressed", "weighted_population")
PREFIX = "national_vsat_"


def extract_name(financial_year: str) -> str:
    return f"{PREFIX}{financial_year.replace('/', '-')}.csv"


def _populations_sql() -> str:
    """(financial_year, survey_strand, weighted population) from the weighting summary."""
    return f"""
        select financial_year, '{ALL}' as survey_strand, frame_victims as population
        from marts.weighting_summary where survey = 'GENERAL' and margin = 'ALL'
        union all
        select financial_year, 'DOMESTIC_ABUSE', frame_victims
        from marts.weighting_summary where survey = 'DOMESTIC_ABUSE' and margin = 'ALL'
        union all
        select financial_year, split_part(category, '|', 1), sum(frame_victims)
        from marts.weighting_summary where survey = 'GENERAL' and margin = 'stratum' group by all"""


def extract_rows(conn: duckdb.DuckDBPyConnection, financial_year: str, force_code: str) -> list[dict]:
    order = ", ".join(f"'{q}'" for q in QUESTIONS)
    rows = conn.execute(f"""
        select a.question, a.survey_strand, a.respondents, a.satisfied_pct, a.standard_error, a.ci_low,
               a.ci_high, a.low_base, a.suppressed, p.population
        from marts.satisfaction_annual a
        left join ({_populations_sql()}) p using (financial_year, survey_strand)
        where a.financial_year = ? and a.area = '{ALL}'
        order by list_position([{order}], a.question), a.survey_strand <> '{ALL}', a.survey_strand""",
        [financial_year]).fetchall()
    out = []
    for question, strand, respondents, pct, se, low, high, low_base, suppressed, population in rows:
        shown = not suppressed and pct is not None and se is not None
        out.append({
            "force_code": force_code, "financial_year": financial_year, "question": question,
            "survey_strand": strand,
            "respondents": respondents if shown else "",
            "satisfied_pct": f"{pct:.2f}" if shown else "",
            "standard_error": f"{se:.3f}" if shown else "",
            "ci_low": f"{low:.2f}" if shown else "",
            "ci_high": f"{high:.2f}" if shown else "",
            "low_base": ("true" if low_base else "false") if shown else "",
            "suppressed": "true" if suppressed else "false",
            "weighted_population": int(population) if shown and population is not None else "",
        })
    return out


def write_extract(path: Path, rows: list[dict]) -> None:
    write_csv_atomically(path, COLUMNS, rows)
