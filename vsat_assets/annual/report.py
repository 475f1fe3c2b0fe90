"""The annual report: one self-contained HTML page per financial year, charts by plotly.

Only published cells appear: suppressed cells (and funnel counts under the suppression
threshold) are left out before anything is drawn. plotly.js is inlined once in <head>,
so the file opens offline.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from vsat_assets import settings
from vsat_assets.annual.tables import ALL, ANNUAL, DA_MONTHLY, GAP, QUESTIONS, ROLLING

# What each question asks about, as the force's reports word it.
QUESTION_PHRASES = {
    "ease_of_contact": "the ease of contacting the police",
    "actions_taken": "the actions taken by the police",
    "kept_informed": "how well they were kept informed of progress",
    "treatment": "the way they were treated",
    "whole_experience": "the whole experience",
}
QUESTION_LABELS = {
    "ease_of_contact": "Ease of contact", "actions_taken": "Actions taken", "kept_informed": "Kept informed",
    "treatment": "Treatment", "whole_experience": "Whole experience",
}
FUNNEL_STAGES = (
    ("reports", "Victims of reports"), ("eligible", "Eligible"), ("sampled", "Sampled"),
    ("handed_off", "Handed to the contractor"), ("completed", "Interviews completed"),
)


@dataclass(frozen=True)
class Headline:
    question: str
    satisfied_pct: float
    ci_low: float
    ci_high: float
    respondents: int
    low_base: bool
    change_pp: float | None
    change_significant: bool | None

    def sentence(self) -> str:
        return f"{self.satisfied_pct:.0f}% of victims were satisfied with {QUESTION_PHRASES[self.question]}"

    def interval(self) -> str:
        return f"{self.ci_low:.1f}% to {self.ci_high:.1f}%"


def report_path(financial_year: str) -> Path:
    """data/reports/vsat_annual_report_2025-26.html for '2025/26'."""
    return settings.data_dir() / "reports" / f"vsat_annual_report_{financial_year.replace('/', '-')}.html"


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    """Rows as dicts; none when the table has not been built yet."""
    try:
        result = conn.execute(sql, params)
    except duckdb.CatalogException:
        return []
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def _published(table: str, where: str) -> str:
    return f"SELECT * FROM {table} WHERE {where} AND NOT suppressed AND satisfied_pct IS NOT NULL"


def headlines(conn: duckdb.DuckDBPyConnection, financial_year: str) -> list[Headline]:
    rows = _rows(
        conn, _published(ANNUAL.name, f"financial_year = ? AND survey_strand = '{ALL}' AND area = '{ALL}'"),
        [financial_year],
    )
    by_question = {r["question"]: r for r in rows}
    return [
        Headline(q, r["satisfied_pct"], r["ci_low"], r["ci_high"], r["respondents"], r["low_base"],
                 r["change_vs_previous_pp"], r["change_significant"])
        for q in QUESTIONS if (r := by_question.get(q))
    ]


def headline_markdown(items: list[Headline]) -> str:
    lines = ["| question | satisfied % | 95% interval | respondents |", "|---|---|---|---|"]
    lines += [
        f"| {QUESTION_LABELS[h.question]} | {h.satisfied_pct:.1f} | {h.interval()} | {h.respondents:,} |"
        for h in items
    ]
    return "\n".join(lines)


def _bars(rows: list[dict], label: str) -> go.Bar:
    pct = [r["satisfied_pct"] for r in rows]
    return go.Bar(
        x=[r[label] + (" *" if r["low_base"] else "") for r in rows], y=pct,
        error_y=dict(type="data", symmetric=False,
                     array=[r["ci_high"] - p for r, p in zip(rows, pct)],
                     arrayminus=[p - r["ci_low"] for r, p in zip(rows, pct)]),
        customdata=[r["respondents"] for r in rows],
        hovertemplate="%{x}: %{y:.1f}% (base %{customdata})<extra></extra>",
        showlegend=False,
    )


def _question_figure(rows: list[dict], question: str) -> go.Figure:
    by_strand = [r for r in rows if r["area"] == ALL and r["survey_strand"] != ALL]
    by_area = [r for r in rows if r["survey_strand"] == ALL and r["area"] != ALL]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("By survey strand", "By policing area"))
    fig.add_trace(_bars(by_strand, "survey_strand"), row=1, col=1)
    fig.add_trace(_bars(by_area, "area"), row=1, col=2)
    fig.update_yaxes(range=[0, 100], title_text="% satisfied")
    fig.update_layout(title=f"{QUESTION_LABELS[question]}: % satisfied with 95% interval", height=420)
    return fig


def _trend_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure()
    for q in QUESTIONS:
        points = [r for r in rows if r["question"] == q]
        pct = [r["satisfied_pct"] for r in points]
        fig.add_trace(go.Scatter(
            x=[r["financial_year"] for r in points], y=pct, mode="lines+markers", name=QUESTION_LABELS[q],
            error_y=dict(type="data", symmetric=False, array=[r["ci_high"] - p for r, p in zip(points, pct)],
                         arrayminus=[p - r["ci_low"] for r, p in zip(points, pct)]),
        ))
    fig.update_layout(title="Year on year: % satisfied, all strands (domestic abuse excluded)",
                      yaxis=dict(range=[0, 100], title="% satisfied"), xaxis=dict(type="category"), height=420)
    return fig


def _funnel_figure(totals: dict, suppress: int) -> go.Figure | None:
    stages = [(label, totals.get(key)) for key, label in FUNNEL_STAGES]
    stages = [(label, n) for label, n in stages if n is not None and n >= suppress]
    if not stages:
        return None
    fig = go.Figure(go.Funnel(y=[s[0] for s in stages], x=[s[1] for s in stages], textinfo="value+percent initial"))
    fig.update_layout(title="From reports to completed interviews", height=400)
    return fig


def _series_figure(rows: list[dict], x: str, title: str, questions=QUESTIONS) -> go.Figure:
    fig = go.Figure()
    for q in questions:
        points = [r for r in rows if r["question"] == q]
        pct = [r["satisfied_pct"] for r in points]
        fig.add_trace(go.Scatter(
            x=[r[x] for r in points], y=pct, mode="lines+markers", name=QUESTION_LABELS[q],
            error_y=dict(type="data", symmetric=False, array=[r["ci_high"] - p for r, p in zip(points, pct)],
                         arrayminus=[p - r["ci_low"] for r, p in zip(points, pct)]),
        ))
    fig.update_layout(title=title, yaxis=dict(range=[0, 100], title="% satisfied"),
                      xaxis=dict(type="category"), height=420)
    return fig


def _change_text(h: Headline, previous_year: str) -> str:
    if h.change_pp is None:
        return ""
    direction = "up" if h.change_pp > 0 else "down" if h.change_pp < 0 else "unchanged"
    verdict = "a significant change" if h.change_significant else "not a significant change"
    return f" ({direction} {abs(h.change_pp):.1f} points on {previous_year}, {verdict})"


def _gap_text(gap: dict | None) -> str:
    if not gap or gap["suppressed"] or gap["gap_pp"] is None:
        return "Too few ethnic-minority victims answered this year to compare their satisfaction with white victims'."
    verdict = "a significant difference" if gap["gap_significant"] else "not a significant difference"
    return (
        f"{gap['white_pct']:.0f}% of white victims and {gap['ethnic_minority_pct']:.0f}% of ethnic-minority "
        f"victims were satisfied with the whole experience: a gap of {gap['gap_pp']:.1f} points, {verdict}."
    )


def build_report(
    conn: duckdb.DuckDBPyConnection, financial_year: str, year_start: date, force_name: str, suppress: int
) -> tuple[str, list[Headline]]:
    """(the page's HTML, its headlines) for one financial year."""
    year_end = date(year_start.year + 1, year_start.month, 1)
    previous_year = f"{year_start.year - 1}/{year_start.year % 100:02d}"
    items = headlines(conn, financial_year)
    cells = _rows(conn, _published(ANNUAL.name, "financial_year = ?") + " ORDER BY survey_strand, area",
                  [financial_year])
    trend = _rows(conn, _published(ANNUAL.name, f"year_start <= ? AND survey_strand = '{ALL}' AND area = '{ALL}'")
                  + " ORDER BY year_start", [year_start])
    funnel = _rows(conn, "SELECT " + ", ".join(f"sum({k}) AS {k}" for k, _ in FUNNEL_STAGES)
                   + " FROM marts.survey_funnel WHERE month_start >= ? AND month_start < ?", [year_start, year_end])
    da = _rows(conn, _published(DA_MONTHLY.name, "month_start >= ? AND month_start < ?") + " ORDER BY month_start",
               [year_start, year_end])
    gap = _rows(conn, f"SELECT * FROM {GAP.name} WHERE financial_year = ? AND question = 'whole_experience'",
                [financial_year])
    rolling = _rows(conn, "SELECT *, 'whole_experience' AS question FROM (" + _published(ROLLING.name, "period_end < ?")
                    + ") ORDER BY period_end", [year_end])

    figures = [_question_figure([r for r in cells if r["question"] == q], q)
               for q in QUESTIONS if any(r["question"] == q for r in cells)]
    figures.append(_trend_figure(trend))
    if rolling:
        figures.append(_series_figure(rolling, "label", "Rolling 12 months: whole experience, all strands",
                                      ("whole_experience",)))
    if funnel and (fig := _funnel_figure(funnel[0], suppress)):
        figures.append(fig)
    if da:
        figures.append(_series_figure(da, "month", "Domestic abuse survey, month by month: % satisfied"))

    esc = html.escape
    headline_html = "".join(
        f"<li><strong>{esc(h.sentence())}</strong> (95% interval {esc(h.interval())}, "
        f"{h.respondents:,} respondents{', low base' if h.low_base else ''}){esc(_change_text(h, previous_year))}.</li>"
        for h in items
    ) or "<li>No published figures for this year.</li>"
    charts = "".join(f'<section class="chart">{fig.to_html(full_html=False, include_plotlyjs=False)}</section>'
                     for fig in figures)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(force_name)}: Victim Satisfaction Survey {esc(financial_year)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:Arial,Helvetica,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
h1{{color:#003366}} .note{{color:#555;font-size:.9em}} li{{margin:.4em 0}}</style>
</head><body>
<h1>{esc(force_name)}: Victim Satisfaction Survey {esc(financial_year)}</h1>
<h2>Headlines</h2>
<ul class="headlines">{headline_html}</ul>
<p>{esc(_gap_text(gap[0] if gap else None))}</p>
<p class="note">Satisfied means completely, very or fairly satisfied, as a share of victims who gave an answer
on the seven-point scale; "don't know" and "not applicable" are left out. Figures are weighted by the sampling
design; intervals are 95% Wilson intervals on the Kish effective sample size. A change or gap is called significant
when it exceeds the square root of the sum of the two squared interval half-widths. Figures on fewer than
{suppress} respondents are not shown; * marks a low base. Domestic abuse victims are surveyed separately and
reported month by month below.</p>
{charts}
</body></html>
"""
    return page, items
