"""The HMICFRS export: one CSV per financial year of the published satisfaction cells.

Layout (a contract with the inspectorate), one row per question x strand x area:
force_code, financial_year, question, survey_strand, area, respondents, satisfied_pct,
ci_low, ci_high, suppressed. Percentages to one decimal place; `suppressed` is true/false.
A suppressed cell keeps its row but its respondents, satisfied_pct, ci_low and ci_high
are blank (counts under the threshold are not published either).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vsat_assets.defs.annual.tables import ALL, ANNUAL, QUESTIONS
from vsat_assets.atomic import write_csv_atomically

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

COLUMNS = (
    "force_code", "financial_year", "question", "survey_strand", "area",
    "respondents", "satisfied_pct", "ci_low", "ci_high", "suppressed",
)


def export_name(financial_year: str) -> str:
    return f"hmicfrs_vsat_{financial_year.replace('/', '-')}.csv"


def export_rows(conn: duckdb.DuckDBPyConnection, financial_year: str, force_code: str) -> list[dict]:
    order = ", ".join(f"'{q}'" for q in QUESTIONS)
    rows = conn.execute(
        f"""SELECT question, survey_strand, area, respondents, satisfied_pct, ci_low, ci_high, suppressed
            FROM {ANNUAL.name} WHERE financial_year = ?
            ORDER BY list_position([{order}], question), survey_strand <> '{ALL}', survey_strand,
                     area <> '{ALL}', area""",
        [financial_year],
    ).fetchall()
    out = []
    for question, strand, area, respondents, pct, low, high, suppressed in rows:
        shown = not suppressed and pct is not None
        out.append({
            "force_code": force_code, "financial_year": financial_year, "question": question,
            "survey_strand": strand, "area": area,
            "respondents": respondents if shown else "",
            "satisfied_pct": f"{pct:.1f}" if shown else "",
            "ci_low": f"{low:.1f}" if shown else "",
            "ci_high": f"{high:.1f}" if shown else "",
            "suppressed": "true" if suppressed else "false",
        })
    return out


def write_export(path: Path, rows: list[dict]) -> None:
    write_csv_atomically(path, COLUMNS, rows)
