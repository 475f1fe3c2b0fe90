"""The national marts (aggregate only): every force side by side, E&W and the groups, the comparisons.

Each run replaces the years it computed: per year, delete then insert, in one transaction.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from vsat_assets.defs.compare.stats import Z95
from vsat_assets.national.combine import EW, Combined, national_rows
from vsat_assets.national.published import ForceFigure
from vsat_assets.register import forces

FORCE_FIGURES = ("marts.national_force_figures", (
    ("force_code", "VARCHAR"), ("force_name", "VARCHAR"), ("most_similar_group", "VARCHAR"),
    ("financial_year", "VARCHAR"), ("question", "VARCHAR"), ("survey_strand", "VARCHAR"),
    ("respondents", "BIGINT"), ("satisfied_pct", "DOUBLE"), ("standard_error", "DOUBLE"),
    ("ci_low", "DOUBLE"), ("ci_high", "DOUBLE"), ("low_base", "BOOLEAN"), ("weighted_population", "DOUBLE"),
    ("ew_share", "DOUBLE")))
ESTIMATES = ("marts.national_estimates", (
    ("comparator", "VARCHAR"), ("financial_year", "VARCHAR"), ("question", "VARCHAR"), ("survey_strand", "VARCHAR"),
    ("satisfied_pct", "DOUBLE"), ("standard_error", "DOUBLE"), ("ci_low", "DOUBLE"), ("ci_high", "DOUBLE"),
    ("forces", "BIGINT"), ("population", "DOUBLE"), ("weight_source", "VARCHAR")))
COMPARISON = ("marts.national_comparison", (
    ("force_code", "VARCHAR"), ("financial_year", "VARCHAR"), ("question", "VARCHAR"), ("survey_strand", "VARCHAR"),
    ("comparator", "VARCHAR"), ("comparator_name", "VARCHAR"), ("force_pct", "DOUBLE"),
    ("force_ci_half_width", "DOUBLE"), ("force_respondents", "BIGINT"), ("force_low_base", "BOOLEAN"),
    ("comparator_pct", "DOUBLE"), ("comparator_ci_half_width", "DOUBLE"), ("comparator_forces", "BIGINT"),
    ("force_share", "DOUBLE"), ("difference_pp", "DOUBLE"), ("difference_ci_half_width", "DOUBLE"),
    ("p_value", "DOUBLE"), ("significant", "BOOLEAN"), ("verdict", "VARCHAR"), ("rank", "BIGINT"),
    ("rank_low", "BIGINT"), ("rank_high", "BIGINT"), ("group_size", "BIGINT")))
TABLES = (FORCE_FIGURES, ESTIMATES, COMPARISON)


def _estimate_row(c: Combined) -> dict:
    return {"comparator": c.comparator, "financial_year": c.financial_year, "question": c.question,
            "survey_strand": c.survey_strand, "satisfied_pct": c.satisfied_pct, "standard_error": c.standard_error,
            "ci_low": c.satisfied_pct - c.half_width, "ci_high": c.satisfied_pct + c.half_width,
            "forces": c.forces, "population": c.population, "weight_source": c.weight_source}


def _force_rows(figures: list[ForceFigure], comparisons: list[dict]) -> list[dict]:
    register = forces()
    share = {(r["force_code"], r["financial_year"], r["question"], r["survey_strand"]): r["force_share"]
             for r in comparisons if r["comparator"] == EW}
    return [{"force_code": f.force, "force_name": register[f.force].name,
             "most_similar_group": register[f.force].most_similar_group, "financial_year": f.financial_year,
             "question": f.question, "survey_strand": f.survey_strand, "respondents": f.respondents,
             "satisfied_pct": f.satisfied_pct, "standard_error": f.standard_error,
             "ci_low": f.satisfied_pct - Z95 * f.standard_error, "ci_high": f.satisfied_pct + Z95 * f.standard_error,
             "low_base": f.low_base, "weighted_population": f.weighted_population,
             "ew_share": share.get((f.force, f.financial_year, f.question, f.survey_strand))} for f in figures]


def write_national(path: Path, figures: list[ForceFigure]) -> dict[str, int]:
    """Compute and store every year of `figures`; returns rows written per table."""
    combined, comparisons = national_rows(figures)
    rows = {FORCE_FIGURES[0]: _force_rows(figures, comparisons),
            ESTIMATES[0]: [_estimate_row(c) for c in combined], COMPARISON[0]: comparisons}
    years = sorted({f.financial_year for f in figures})
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("BEGIN")
        try:
            for name, columns in TABLES:
                conn.execute(f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(f'{c} {t}' for c, t in columns)})")
                conn.execute(f"DELETE FROM {name} WHERE list_contains(?, financial_year)", [years])
                names = [c for c, _ in columns]
                if rows[name]:
                    conn.executemany(f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                     [[r[c] for c in names] for r in rows[name]])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return {name: len(r) for name, r in rows.items()}
