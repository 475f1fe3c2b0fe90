"""The caterpillar chart: every force's figure with its 95% interval, ordered, E&W as a line (plotly,
one self-contained HTML file per year and question, the whole general survey)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from vsat_assets.atomic import write_atomically
from vsat_assets.vocabulary import ALL


def caterpillar_html(conn: duckdb.DuckDBPyConnection, financial_year: str, question: str) -> str:
    import plotly.graph_objects as go

    rows = conn.execute("""
        select force_name, most_similar_group, satisfied_pct, ci_low, ci_high from marts.national_force_figures
        where financial_year = ? and question = ? and survey_strand = ? order by satisfied_pct""",
        [financial_year, question, ALL]).fetchall()
    ew = conn.execute("select satisfied_pct, ci_low, ci_high from marts.national_estimates where comparator = 'E&W' "
                      "and financial_year = ? and question = ? and survey_strand = ?",
                      [financial_year, question, ALL]).fetchone()
    fig = go.Figure()
    for group in sorted({r[1] for r in rows}):
        members = [r for r in rows if r[1] == group]
        fig.add_trace(go.Scatter(
            x=[r[2] for r in members], y=[r[0] for r in members], mode="markers", name=group,
            error_x={"type": "data", "symmetric": False, "array": [r[4] - r[2] for r in members],
                     "arrayminus": [r[2] - r[3] for r in members]}))
    if ew:
        fig.add_vline(x=ew[0], line_dash="dash", annotation_text=f"England and Wales {ew[0]:.1f}% (± {ew[0] - ew[1]:.1f})")
    fig.update_layout(title=f"Satisfied with {question.replace('_', ' ')}, {financial_year}: every force with its 95% "
                      "interval (general survey)", xaxis_title="% satisfied",
                      yaxis={"categoryorder": "array", "categoryarray": [r[0] for r in rows]},
                      height=max(400, 22 * len(rows) + 150))
    return fig.to_html(full_html=True, include_plotlyjs=True)


def write_caterpillars(db: Path, folder: Path, question: str = "whole_experience") -> list[Path]:
    written = []
    with duckdb.connect(str(db), read_only=True) as conn:
        years = [y for (y,) in conn.execute("select distinct financial_year from marts.national_force_figures "
                                            "order by 1").fetchall()]
        for year in years:
            path = folder / f"national_{question}_{year.replace('/', '-')}.html"
            write_atomically(path, caterpillar_html(conn, year, question))
            written.append(path)
    return written
