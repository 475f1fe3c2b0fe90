"""What the national stage sends back: each force's comparator file (docs/comparisons.md layout).

One file per force and year, `<national>/comparators/<CODE>/national_comparators_YYYY-YY.csv`:
England and Wales and the force's most similar group for every question and strand where both
were computed, each with its interval and the force's share of it. A force puts its file in its
own comparator folder (`VSAT_COMPARATOR_DIR`) and `satisfaction_comparison` then compares its own
survey with the national figures exactly as with figures published by anyone else.

A comparator that is the force alone (its group, or E&W, with no other force publishing) is
left out: it compares nothing, and the layout refuses a share of 1.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from vsat_assets.atomic import write_csv_atomically
from vsat_assets.defs.compare.files import COLUMNS
from vsat_assets.national.combine import EW

PREFIX = "national_comparators_"
SOURCE = "national comparison of the forces' published extracts"


def comparator_file_name(financial_year: str) -> str:
    return f"{PREFIX}{financial_year.replace('/', '-')}.csv"


def _rows(conn: duckdb.DuckDBPyConnection, years: list[str]) -> list[tuple]:
    return conn.execute(f"""
        select force_code, financial_year, comparator, question, survey_strand, comparator_pct,
               comparator_ci_half_width, force_share
        from marts.national_comparison
        where list_contains(?, financial_year)
          and comparator_forces > 1 and force_share < 1 and comparator_ci_half_width > 0
        order by force_code, financial_year, comparator = '{EW}' desc, question, survey_strand""", [years]).fetchall()


def write_comparator_files(db: Path, folder: Path, years: list[str]) -> list[Path]:
    """Each force's comparator file for each of `years` (the years this run computed). A file of one
    of those years for a force that no longer has a comparator is removed, so none goes back stale."""
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = _rows(conn, years)
    by_file: dict[Path, list[dict]] = {}
    for force, year, comparator, question, strand, pct, half, share in rows:
        path = folder / force / comparator_file_name(year)
        by_file.setdefault(path, []).append({
            "comparator": comparator, "force": force, "period": year, "question": question,
            "survey_strand": strand, "estimate": f"{pct:.3f}",
            # a ± under 0.0005 would print as 0.000, which the layout refuses
            "interval": f"{max(half, 0.001):.3f}",
            "base": "", "force_share": f"{share:.6f}", "source": SOURCE})
    for path, file_rows in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv_atomically(path, COLUMNS, file_rows)
    for year in years:
        for stale in set(folder.glob(f"*/{comparator_file_name(year)}")) - set(by_file):
            stale.unlink()
    return sorted(by_file)
