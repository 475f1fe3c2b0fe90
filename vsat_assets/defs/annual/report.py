"""The annual report for a Police and Crime Panel: one self-contained HTML page per year.

Every chart is followed by its data table (figures, intervals, bases; low bases and
suppressed cells marked), so the page reads on paper and with a screen reader. Axes span
the figures, not 0-100, and every estimate carries its 95% interval. Whole experience is
also shown month by month on a p-chart (statistical process control), and the domestic
abuse survey on rolling quarters. Labels come from vsat_assets.lookups. plotly.js is
inlined once in <head>, so the file opens offline; each chart is kept whole on a printed
page (CSS break-inside: avoid), so the page prints to PDF from a browser.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from vsat_assets import clock, settings
from vsat_assets.defs.annual.tables import ALL, ANNUAL, DA_QUARTERLY, GAP, QUESTIONS, ROLLING
from vsat_assets.lookups import label
from vsat_assets.vocabulary import QUESTION_PHRASES

QUESTION_LABELS = {q: label("question", q) for q in QUESTIONS}
FUNNEL_STAGES = (
    ("reports", "Victims of reports"), ("eligible", "Eligible"), ("sampled", "Sampled"),
    ("handed_off", "Handed to the contractor"), ("completed", "Interviews completed"),
)
WIDTH = 680  # px: fits an A4 page with 12 mm margins, so print and screen show the same chart
SPC_RUN = 8  # points in a row on one side of the centre line that signal a shift
SPC_BASELINE_MONTHS = 6  # months of the previous year needed for it to be the p-chart's baseline
CONFIG = {"displayModeBar": False, "responsive": False}
COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000")
EN_DASH = "\u2013"


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


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""                     # HTML
    figure: go.Figure | None = None
    caption: str = ""
    table: str = ""                     # HTML
    notes: list[str] = field(default_factory=list)


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


def _shown(row: dict, pct: str = "satisfied_pct") -> bool:
    return not row.get("suppressed") and row.get(pct) is not None


def headlines(conn: duckdb.DuckDBPyConnection, financial_year: str) -> list[Headline]:
    rows = _rows(conn, f"SELECT * FROM {ANNUAL.name} WHERE financial_year = ? AND survey_strand = '{ALL}' "
                       f"AND area = '{ALL}'", [financial_year])
    by_question = {r["question"]: r for r in rows if _shown(r)}
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


# ------------------------------------------------------------------ tables
def _esc(value) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}"


def _note(row: dict, low_base: int, suppress: int) -> str:
    if row.get("suppressed") or row.get("satisfied_pct", 0) is None:
        return f"Suppressed: fewer than {suppress} respondents"
    if row.get("low_base"):
        return f"Low base: fewer than {low_base} respondents"
    return ""


def _estimate_cells(row: dict, low_base: int, suppress: int) -> list[str]:
    """respondents, % satisfied, 95% interval, note: nothing but the note for a suppressed row."""
    if not _shown(row):
        return ["", "", "", _note(row, low_base, suppress)]
    return [f"{row['respondents']:,}", _pct(row["satisfied_pct"]),
            f"{row['ci_low']:.1f}{EN_DASH}{row['ci_high']:.1f}", _note(row, low_base, suppress)]


def _table(caption: str, header: list[str], rows: list[tuple[list[str], str]]) -> str:
    """An HTML table; each row is (cells, css class). The first column is the row's heading."""
    head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in header)
    body = "".join(
        f'<tr class="{css}"><th scope="row">{_esc(cells[0])}</th>'
        + "".join(f"<td>{_esc(c)}</td>" for c in cells[1:]) + "</tr>"
        for cells, css in rows
    )
    return f"<table><caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _css(row: dict) -> str:
    return "suppressed" if not _shown(row) else "low-base" if row.get("low_base") else ""


# ------------------------------------------------------------------ charts
def _axis_range(lows: list[float], highs: list[float]) -> list[float]:
    """The figures' span plus a margin, within 0-100: differences of a few points stay visible."""
    if not lows:
        return [0, 100]
    low, high = min(lows), max(highs)
    pad = max(2.0, (high - low) * 0.1)
    return [max(0.0, math.floor(low - pad)), min(100.0, math.ceil(high + pad))]


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", font=dict(size=15)), width=WIDTH, height=height,
                      margin=dict(l=10, r=20, t=60, b=50), plot_bgcolor="white", font=dict(family="Arial", size=12),
                      legend=dict(orientation="h", y=-0.18, x=0))
    fig.update_xaxes(showgrid=True, gridcolor="#e5e5e5", automargin=True)
    fig.update_yaxes(showgrid=True, gridcolor="#e5e5e5", automargin=True)
    return fig


def _dots(rows: list[dict], names: list[str], colour: str = COLOURS[0], name: str = "") -> go.Scatter:
    """Horizontal dots with 95% interval whiskers; an open marker for a low base."""
    pct = [r["satisfied_pct"] for r in rows]
    return go.Scatter(
        x=pct, y=names, mode="markers", name=name, showlegend=bool(name),
        marker=dict(color=colour, size=10, symbol=["circle-open" if r["low_base"] else "circle" for r in rows],
                    line=dict(width=2, color=colour)),
        error_x=dict(type="data", symmetric=False, array=[r["ci_high"] - p for r, p in zip(rows, pct)],
                     arrayminus=[p - r["ci_low"] for r, p in zip(rows, pct)], color=colour, thickness=1.5),
        customdata=[r["respondents"] for r in rows],
        hovertemplate="%{y}: %{x:.1f}% (base %{customdata:,})<extra></extra>",
    )


def _question_figure(question: str, force: dict | None, strands: list[dict], areas: list[dict]) -> go.Figure:
    strands, areas = [r for r in strands if _shown(r)], [r for r in areas if _shown(r)]
    heights = [max(len(strands), 1), max(len(areas), 1)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        row_heights=heights, subplot_titles=("By survey strand", "By policing area"))
    fig.add_trace(_dots(strands, [label("strand", r["survey_strand"]) for r in strands]), row=1, col=1)
    fig.add_trace(_dots(areas, [label("area", r["area"]) for r in areas]), row=2, col=1)
    shown = strands + areas + ([force] if force and _shown(force) else [])
    fig.update_xaxes(range=_axis_range([r["ci_low"] for r in shown], [r["ci_high"] for r in shown]))
    fig.update_xaxes(title_text="% satisfied, with 95% interval", row=2, col=1)
    fig.update_yaxes(autorange="reversed")
    if force and _shown(force):
        for row in (1, 2):
            fig.add_vline(x=force["satisfied_pct"], line_dash="dot", line_color="#888", row=row, col=1)
    return _layout(fig, f"{QUESTION_LABELS[question]}: % satisfied by strand and by area",
                   150 + 30 * sum(heights))


# ------------------------------------------------------------------ sections
def _headline_section(items: list[Headline], previous_year: str, gap: dict | None,
                      funnel: dict | None = None) -> Section:
    sentences = "".join(
        f"<li><strong>{_esc(h.sentence())}</strong> (95% interval {_esc(h.interval())}, "
        f"{h.respondents:,} respondents{', low base' if h.low_base else ''}){_esc(_change_text(h, previous_year))}.</li>"
        for h in items
    ) or "<li>No published figures for this year.</li>"
    rows = [([QUESTION_LABELS[h.question], f"{h.respondents:,}", _pct(h.satisfied_pct),
              f"{h.ci_low:.1f}{EN_DASH}{h.ci_high:.1f}", _signed(h.change_pp), _verdict(h.change_significant)],
             "low-base" if h.low_base else "") for h in items]
    table = _table("Headline figures, general survey, whole force",
                   ["Question", "Respondents", "% satisfied", "95% interval", f"Change on {previous_year} (points)",
                    "Significant change?"], rows)
    coverage = coverage_text(funnel)
    return Section("headlines", "Headlines",
                   f'<ul class="headlines">{sentences}</ul><p>{_esc(_gap_text(gap))}</p>'
                   + (f'<p class="coverage">{_esc(coverage)}</p>' if coverage else ""), table=table)


# Eligible in principle, left out of the frame by the survey's own rules: who the figures cannot speak for.
COVERAGE_EXCLUSIONS = (
    ("opted_out", "had asked not to be surveyed"), ("recently_surveyed", "had been surveyed in the last 12 months"),
    ("duplicate_in_month", "had another report in the month"), ("no_phone", "had no usable phone number"),
    ("not_safe_to_contact", "were not safe to contact"), ("sensitive", "were in sensitive cases"),
    ("window_closed", "could not be contacted in time"),
)


def coverage_text(funnel: dict | None) -> str:
    """The target population and the coverage caveat, from the year's funnel."""
    if not funnel or not funnel.get("eligible"):
        return ""
    left_out = [(funnel.get(k) or 0, phrase) for k, phrase in COVERAGE_EXCLUSIONS if funnel.get(k)]
    covered = funnel["eligible"] + sum(n for n, _ in left_out)
    parts = ", ".join(f"{n:,} {phrase}" for n, phrase in sorted(left_out, reverse=True))
    return (f"Who these figures describe: adult victims of the year's reports in the survey's strands "
            f"who could be surveyed, {funnel['eligible']:,} of {covered:,} such victims "
            f"({100 * funnel['eligible'] / covered:.1f}%). The weights make respondents represent them, not the "
            f"victims the survey's rules leave out{': ' + parts if parts else ''}; if those victims' "
            "satisfaction differs, the figures do not show it.")


def _verdict(significant: bool | None) -> str:
    return "" if significant is None else "Yes" if significant else "No"


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


def _year_on_year_section(trend: list[dict], low_base: int, suppress: int) -> Section:
    years = sorted({r["financial_year"] for r in trend})
    fig = go.Figure()
    shown = [r for r in trend if _shown(r)]
    for i, year in enumerate(years):
        points = [r for r in shown if r["financial_year"] == year]
        pct = [r["satisfied_pct"] for r in points]
        fig.add_trace(go.Scatter(
            x=[QUESTION_LABELS[r["question"]] for r in points], y=pct, mode="markers", name=year,
            marker=dict(size=10, color=COLOURS[i % len(COLOURS)],
                        symbol=["circle-open" if r["low_base"] else "circle" for r in points]),
            error_y=dict(type="data", symmetric=False, array=[r["ci_high"] - p for r, p in zip(points, pct)],
                         arrayminus=[p - r["ci_low"] for r, p in zip(points, pct)], thickness=1.5),
            hovertemplate=f"{year} %{{x}}: %{{y:.1f}}%<extra></extra>",
        ))
    fig.update_layout(scattermode="group", xaxis=dict(type="category",
                      categoryarray=[QUESTION_LABELS[q] for q in QUESTIONS], categoryorder="array"),
                      yaxis=dict(title="% satisfied, with 95% interval",
                                 range=_axis_range([r["ci_low"] for r in shown], [r["ci_high"] for r in shown])))
    _layout(fig, "Year on year: % satisfied, general survey, whole force", 420)
    order = {q: i for i, q in enumerate(QUESTIONS)}
    rows = [([QUESTION_LABELS[r["question"]], r["financial_year"], *_estimate_cells(r, low_base, suppress)[:3],
              _signed(r["change_vs_previous_pp"]), _verdict(r["change_significant"]),
              _estimate_cells(r, low_base, suppress)[3]], _css(r))
            for r in sorted(trend, key=lambda r: (order[r["question"]], r["year_start"]))]
    table = _table("Year on year, general survey, whole force",
                   ["Question", "Year", "Respondents", "% satisfied", "95% interval", "Change (points)",
                    "Significant change?", "Note"], rows)
    intro = ("<p>Each dot is a year's figure and its whisker the 95% interval. A change is called significant "
             "when it is larger than the two years' intervals combined would allow by chance.</p>")
    if len(years) < 2:
        intro += "<p>Only one year of results so far: there is no earlier year to compare with.</p>"
    return Section("year-on-year", "Year on year", intro, fig,
                   f"% satisfied per question in {', '.join(years)}, general survey, whole force.", table)


def _question_section(question: str, cells: list[dict], low_base: int, suppress: int) -> Section:
    force = next((r for r in cells if r["survey_strand"] == ALL and r["area"] == ALL), None)
    strands = sorted((r for r in cells if r["area"] == ALL and r["survey_strand"] != ALL),
                     key=lambda r: label("strand", r["survey_strand"]))
    areas = sorted((r for r in cells if r["survey_strand"] == ALL and r["area"] != ALL),
                   key=lambda r: label("area", r["area"]))
    fig = _question_figure(question, force, strands, areas)
    rows = ([(["Whole force", *_estimate_cells(force, low_base, suppress)], _css(force))] if force else [])
    rows += [([f"Strand: {label('strand', r['survey_strand'])}", *_estimate_cells(r, low_base, suppress)], _css(r))
             for r in strands]
    rows += [([f"Area: {label('area', r['area'])}", *_estimate_cells(r, low_base, suppress)], _css(r))
             for r in areas]
    table = _table(f"{QUESTION_LABELS[question]}: % satisfied by strand and by area",
                   ["Group", "Respondents", "% satisfied", "95% interval", "Note"], rows)
    intro = (f"<p>Satisfaction with {_esc(QUESTION_PHRASES[question])}. The dotted line is the whole force's "
             "figure; an open circle marks a low base.</p>")
    return Section(f"q-{question}", QUESTION_LABELS[question], intro, fig,
                   f"{QUESTION_LABELS[question]}: % satisfied with 95% interval by survey strand and policing area.",
                   table)


def _gap_section(gaps: list[dict], year: str, low_base: int, suppress: int) -> Section | None:
    if not any(_shown(g, "gap_pp") for g in gaps):
        return None
    by_q = {g["question"]: g for g in gaps}
    fig = go.Figure()
    groups = (("white", "White victims", COLOURS[0]), ("ethnic_minority", "Ethnic-minority victims", COLOURS[1]))
    lows, highs = [], []
    for offset, (prefix, name, colour) in zip((-0.15, 0.15), groups):
        rows = [dict(satisfied_pct=g[f"{prefix}_pct"], ci_low=g[f"{prefix}_ci_low"], ci_high=g[f"{prefix}_ci_high"],
                     respondents=g[f"{prefix}_respondents"], low_base=g[f"{prefix}_respondents"] < low_base,
                     position=i + offset)
                for i, q in enumerate(QUESTIONS)
                if (g := by_q.get(q)) and not g["suppressed"] and g[f"{prefix}_pct"] is not None]
        lows += [r["ci_low"] for r in rows]
        highs += [r["ci_high"] for r in rows]
        trace = _dots(rows, [r["position"] for r in rows], colour, name)
        trace.update(hovertemplate=f"{name}: %{{x:.1f}}% (base %{{customdata:,}})<extra></extra>")
        fig.add_trace(trace)
    fig.update_xaxes(range=_axis_range(lows, highs), title_text="% satisfied, with 95% interval")
    fig.update_yaxes(autorange="reversed", tickvals=list(range(len(QUESTIONS))),
                     ticktext=[QUESTION_LABELS[q] for q in QUESTIONS], showgrid=False)
    _layout(fig, f"White and ethnic-minority victims, {year}", 360)
    rows = []
    for q in QUESTIONS:
        g = by_q.get(q)
        if not g:
            continue
        if g["suppressed"]:
            rows.append(([QUESTION_LABELS[q], "", "", "", "", "", "", "", f"Suppressed: a group has fewer than {suppress} respondents"],
                         "suppressed"))
            continue
        rows.append(([QUESTION_LABELS[q], f"{g['white_respondents']:,}", _pct(g["white_pct"]),
                      f"{g['white_ci_low']:.1f}{EN_DASH}{g['white_ci_high']:.1f}",
                      f"{g['ethnic_minority_respondents']:,}", _pct(g["ethnic_minority_pct"]),
                      f"{g['ethnic_minority_ci_low']:.1f}{EN_DASH}{g['ethnic_minority_ci_high']:.1f}",
                      _signed(g["gap_pp"]) + (" (significant)" if g["gap_significant"] else ""),
                      f"Low base: a group has fewer than {low_base} respondents" if g["low_base"] else ""],
                     "low-base" if g["low_base"] else ""))
    table = _table(f"Satisfaction of white and ethnic-minority victims, {year}",
                   ["Question", "White: respondents", "White: %", "White: 95% interval", "Ethnic minority: respondents",
                    "Ethnic minority: %", "Ethnic minority: 95% interval", "Gap (points)", "Note"], rows)
    return Section("gap", "White and ethnic-minority victims",
                   "<p>The gap in whole-experience satisfaction between white and ethnic-minority victims is a "
                   "long-standing national indicator.</p>", fig,
                   "% satisfied of white and ethnic-minority victims with 95% interval, general survey.", table)


def spc_points(months: list[dict], baseline: set[date], run: int = SPC_RUN) -> tuple[float | None, list[dict]]:
    """p-chart on weighted shares: (centre line, months with limits and signals).

    Each row: month_start, respondents (valid answers), sw, sw2, swy (sums of the weights, their
    squares, and the weights of the satisfied). A month's share is swy / sw, its effective sample
    size Kish's sw^2 / sw2 (the base divided by the weighting's design effect). The centre line is
    the weighted share of the `baseline` months pooled (a stated period before the months judged,
    so a step is judged against the level before it); each month's limits are the centre +/- 3
    standard errors sqrt(c(1 - c) / n_eff), clipped to 0-100. Only months outside the baseline are
    judged (all of them if the baseline is every month shown): a signal is a month outside its
    limits, or in a run of `run` or more judged months on one side of the centre. Its direction:
    +1 above the centre (more satisfied: better), -1 below (worse).
    """
    months = [m for m in months if m["respondents"] and m["sw"] > 0]
    base = [m for m in months if m["month_start"] in baseline]
    if not base:
        return None, []
    centre = sum(m["swy"] for m in base) / sum(m["sw"] for m in base)
    judge_all = all(m["month_start"] in baseline for m in months)
    points = []
    for m in months:
        pct, n_eff = 100 * m["swy"] / m["sw"], m["sw"] ** 2 / m["sw2"]
        sigma = math.sqrt(centre * (1 - centre) / n_eff)
        low, high = max(0.0, 100 * (centre - 3 * sigma)), min(100.0, 100 * (centre + 3 * sigma))
        side = 0 if abs(pct - 100 * centre) < 1e-9 else (1 if pct > 100 * centre else -1)
        points.append({**m, "pct": pct, "effective_n": n_eff, "lcl": low, "ucl": high, "side": side,
                       "baseline": m["month_start"] in baseline, "judged": judge_all or m["month_start"] not in baseline,
                       "outside": False, "in_run": False, "direction": 0})
    judged = [p for p in points if p["judged"]]
    for p in judged:
        p["outside"] = not p["lcl"] <= p["pct"] <= p["ucl"]
    start = 0
    for i in range(1, len(judged) + 1):
        if i == len(judged) or judged[i]["side"] != judged[start]["side"] or judged[i]["side"] == 0:
            if judged[start]["side"] != 0 and i - start >= run:
                for p in judged[start:i]:
                    p["in_run"] = True
            start = i
    for p in judged:
        p["direction"] = p["side"] if p["outside"] or p["in_run"] else 0
    return 100 * centre, points


SPC_BETTER, SPC_WORSE = "#2e7d32", "#c62828"  # signal colours: more satisfied is better


def _spc_months(conn, first: date, year_end: date, suppress: int) -> list[dict]:
    """Whole experience per month of the general survey, weighted by calibrated_weight (months whose
    year is not weighted yet are left out), with the sums spc_points needs."""
    return _rows(conn, """
        SELECT month, month_start, count(*) AS respondents, sum(calibrated_weight) AS sw,
               sum(calibrated_weight * calibrated_weight) AS sw2,
               coalesce(sum(calibrated_weight) FILTER (WHERE whole_experience <= 3), 0) AS swy
        FROM marts.responses
        WHERE outcome = 'COMPLETE' AND survey_strand <> 'DOMESTIC_ABUSE' AND whole_experience BETWEEN 1 AND 7
          AND month_start >= ? AND month_start < ?
        GROUP BY ALL HAVING count(*) >= ? AND count(*) FILTER (WHERE calibrated_weight IS NULL) = 0
        ORDER BY month_start""", [first, year_end, suppress])


def _spc_section(conn, year_start: date, year_end: date, suppress: int) -> Section | None:
    first = date(year_start.year - 1, year_start.month, 1)
    months = _spc_months(conn, first, year_end, suppress)
    previous = {m["month_start"] for m in months if m["month_start"] < year_start}
    # The baseline: the previous financial year's months; without enough of them, the year's own.
    own_year = len(previous) < SPC_BASELINE_MONTHS
    baseline = {m["month_start"] for m in months} if own_year else previous
    centre, points = spc_points(months, baseline)
    if centre is None:
        return None
    baseline_text = (f"the months of {_fy(year_start)} themselves (fewer than {SPC_BASELINE_MONTHS} months of "
                     f"{_fy(first)} to compare with)" if own_year else f"the months of {_fy(first)}")
    x = [p["month_start"].strftime("%b %Y") for p in points]
    fig = go.Figure()
    limit_line = dict(color="#777", shape="hvh", width=1, dash="dash")
    fig.add_trace(go.Scatter(x=x, y=[p["ucl"] for p in points], mode="lines", line=limit_line,
                             name="Control limits (3 sigma, effective n)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=[p["lcl"] for p in points], mode="lines", line=limit_line,
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=[centre] * len(points), mode="lines", line=dict(color="#333", width=1.5),
                             name=f"Centre line {centre:.1f}% (baseline {_fy(first) if not own_year else _fy(year_start)})",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=x, y=[p["pct"] for p in points], mode="lines+markers", name="Month (weighted)",
        line=dict(color=COLOURS[0], width=1.5),
        marker=dict(size=7, color=["#9db3c8" if not p["judged"] else COLOURS[0] for p in points]),
        customdata=[[p["respondents"], p["effective_n"]] for p in points],
        hovertemplate="%{x}: %{y:.1f}% (base %{customdata[0]:,}, effective n %{customdata[1]:,.0f})<extra></extra>",
    ))
    for direction, colour, symbol, name in ((1, SPC_BETTER, "triangle-up", "Signal: better (more satisfied)"),
                                            (-1, SPC_WORSE, "triangle-down", "Signal: worse (less satisfied)")):
        marked = [p for p in points if p["direction"] == direction]
        fig.add_trace(go.Scatter(
            x=[p["month_start"].strftime("%b %Y") for p in marked], y=[p["pct"] for p in marked], mode="markers",
            name=name, marker=dict(size=13, color=colour, symbol=symbol, line=dict(color="white", width=1)),
            hoverinfo="skip", visible=True if marked else "legendonly"))
    lows = [p["lcl"] for p in points] + [p["pct"] for p in points]
    highs = [p["ucl"] for p in points] + [p["pct"] for p in points]
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(title_text="% satisfied (weighted)", range=_axis_range(lows, highs))
    _layout(fig, "Whole experience month by month: p-chart", 450)
    rows = []
    for p in points:
        flags = [text for flag, text in ((p["outside"], "outside the control limits"),
                                         (p["in_run"], f"in a run of {SPC_RUN} or more on one side")) if flag]
        verdict = {1: "Better: ", -1: "Worse: ", 0: ""}[p["direction"]] + "; ".join(flags)
        if p["baseline"] and not p["judged"]:
            verdict = "Baseline month (sets the centre line; not judged)"
        css = {1: "signal-better", -1: "signal-worse", 0: ""}[p["direction"]]
        rows.append(([p["month_start"].strftime("%B %Y"), f"{p['respondents']:,}", f"{p['effective_n']:,.0f}",
                      _pct(p["pct"]), f"{p['lcl']:.1f}{EN_DASH}{p['ucl']:.1f}", verdict], css))
    table = _table("Whole experience per month with its control limits",
                   ["Month", "Respondents", "Effective n", "% satisfied (weighted)", "Control limits", "Signal"], rows)
    better = sum(1 for p in points if p["direction"] == 1)
    worse = sum(1 for p in points if p["direction"] == -1)
    judged = sum(1 for p in points if p["judged"])
    intro = ("<p>A statistical process control chart (p-chart), as police performance teams use instead of "
             "comparing one month with the last. Each month is the weighted share satisfied (the same weights as the "
             f"annual figures). The centre line is the satisfaction rate of the baseline, {baseline_text}; "
             "the dashed control limits are three standard errors either side of it for each month's effective "
             "number of respondents (its base divided by the weighting's design effect). A month outside its limits, "
             f"or a run of {SPC_RUN} or more months on one side of the centre line, is a signal that something has "
             "changed: a green triangle pointing up when satisfaction is higher (better), a red triangle pointing "
             "down when it is lower (worse); other movement is ordinary variation. "
             f"General survey, months with at least {suppress} respondents. Of {judged} months judged, "
             f"{better} signal better and {worse} signal worse.</p>")
    return Section("spc", "Month by month: control chart", intro, fig,
                   "Whole experience per month (weighted), baseline centre line and 3-sigma limits on the effective "
                   "sample size; signals green when better, red when worse.", table)


def _fy(start: date) -> str:
    return f"{start.year}/{(start.year + 1) % 100:02d}"


def _rolling_section(rolling: list[dict], low_base: int, suppress: int) -> Section | None:
    if not rolling:
        return None
    shown = [r for r in rolling if _shown(r)]
    pct = [r["satisfied_pct"] for r in shown]
    fig = go.Figure(go.Scatter(
        x=[f"{r['period_end']:%b %Y}" for r in shown], y=pct, mode="lines+markers", name="Whole experience",
        marker=dict(size=9, color=COLOURS[0], symbol=["circle-open" if r["months_covered"] < 12 else "circle"
                                                       for r in shown]),
        error_y=dict(type="data", symmetric=False, array=[r["ci_high"] - p for r, p in zip(shown, pct)],
                     arrayminus=[p - r["ci_low"] for r, p in zip(shown, pct)], thickness=1.5),
        customdata=[r["label"] for r in shown],
        hovertemplate="%{customdata}: %{y:.1f}%<extra></extra>",
    ))
    fig.update_xaxes(type="category", title_text="Period ending")
    fig.update_yaxes(title_text="% satisfied, with 95% interval",
                     range=_axis_range([r["ci_low"] for r in shown], [r["ci_high"] for r in shown]))
    _layout(fig, "Whole experience over rolling 12 months, general survey", 400)
    rows = []
    for r in rolling:
        cells = _estimate_cells(r, low_base, suppress)
        partial = f"Partial: {r['months_covered']} of 12 months" if r["months_covered"] < 12 else ""
        rows.append(([r["label"], str(r["months_covered"]), *cells[:3], "; ".join(x for x in (partial, cells[3]) if x)],
                     _css(r)))
    table = _table("Whole experience over rolling 12 months", ["Period", "Months with interviews", "Respondents",
                   "% satisfied", "95% interval", "Note"], rows)
    return Section("rolling", "Rolling 12 months",
                   "<p>Whole experience over the 12 months to each quarter end, the way inspection reports quote it. "
                   "An open circle marks a period with fewer than 12 months of interviews.</p>", fig,
                   "Whole experience over rolling 12 months with 95% interval, general survey.", table)


def _quarter_label(end: date) -> str:
    start = date(end.year - (end.month <= 2), (end.month - 3) % 12 + 1, 1)
    return f"{start:%b %Y}{EN_DASH}{end:%b %Y}" if start.year != end.year else f"{start:%b}{EN_DASH}{end:%b %Y}"


def _domestic_abuse_section(conn, year_start: date, year_end: date, low_base: int, suppress: int) -> Section | None:
    # The mart's quarters, so the report shows exactly what disclosure control published (a quarter
    # holding a suppressed month is suppressed there too).
    rows = _rows(conn, f"SELECT * FROM {DA_QUARTERLY.name} WHERE question = 'whole_experience' "
                       "AND period_end >= ? AND period_end < ? ORDER BY period_end", [year_start, year_end])
    if not rows:
        return None
    shown = [r for r in rows if _shown(r)]
    pct = [r["satisfied_pct"] for r in shown]
    fig = go.Figure(go.Scatter(
        x=[_quarter_label(r["period_end"]) for r in shown], y=pct, mode="lines+markers", name="Whole experience",
        marker=dict(size=10, color=COLOURS[3], line=dict(width=2, color=COLOURS[3]),
                    symbol=["circle-open" if r["low_base"] else "circle" for r in shown]),
        line=dict(color=COLOURS[3]),
        error_y=dict(type="data", symmetric=False, array=[r["ci_high"] - p for r, p in zip(shown, pct)],
                     arrayminus=[p - r["ci_low"] for r, p in zip(shown, pct)], thickness=1.5),
        customdata=[r["respondents"] for r in shown],
        hovertemplate="%{x}: %{y:.1f}% (base %{customdata:,})<extra></extra>",
    ))
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(title_text="% satisfied, with 95% interval",
                     range=_axis_range([r["ci_low"] for r in shown], [r["ci_high"] for r in shown]))
    _layout(fig, "Domestic abuse survey: whole experience, rolling quarters", 420)
    table_rows = []
    for r in rows:
        cells = _estimate_cells(r, low_base, suppress)
        partial = f"Partial: {r['months_covered']} of 3 months" if r["months_covered"] < 3 else ""
        table_rows.append(([_quarter_label(r["period_end"]), *cells[:3], "; ".join(x for x in (cells[3], partial) if x)],
                           _css(r)))
    table = _table("Domestic abuse survey: whole experience over rolling quarters",
                   ["Three months", "Respondents", "% satisfied", "95% interval", "Note"], table_rows)
    low = sum(1 for r in rows if r["low_base"])
    intro = ("<p>Victims of domestic abuse are surveyed separately and never counted in the general survey. "
             "A month has too few interviews to read on its own, so each point pools three months (a rolling "
             f"quarter). Open circles mark a low base (fewer than {low_base} respondents): {low} of {len(rows)} "
             "quarters; read them with care, their intervals are wide.</p>")
    return Section("domestic-abuse", "Domestic abuse survey", intro, fig,
                   "Domestic abuse survey, whole experience over rolling quarters with 95% interval.", table)


def _funnel_section(totals: dict, suppress: int) -> Section | None:
    stages = [(name, totals.get(key)) for key, name in FUNNEL_STAGES]
    stages = [(name, n) for name, n in stages if n is not None and n >= suppress]
    if not stages:
        return None
    fig = go.Figure(go.Bar(
        x=[n for _, n in stages], y=[name for name, _ in stages], orientation="h", marker_color=COLOURS[0],
        text=[f"{n:,}" for _, n in stages], textposition="auto", hovertemplate="%{y}: %{x:,}<extra></extra>",
    ))
    fig.update_xaxes(title_text="Victims", tickformat=",d")
    fig.update_yaxes(autorange="reversed")
    _layout(fig, "From reports to completed interviews", 330)
    rows, previous = [], None
    for name, n in stages:
        rows.append(([name, f"{n:,}", "" if previous is None else f"{100 * n / previous:.1f}%"], ""))
        previous = n
    table = _table("From reports to completed interviews", ["Stage", "Victims", "% of the stage before"], rows)
    return Section("funnel", "From reports to interviews",
                   "<p>Of the victims reported in the year, those eligible for the survey (see the method), those "
                   "sampled, handed to the survey contractor, and interviewed.</p>", fig,
                   "Victims at each stage of the survey.", table)


# ------------------------------------------------------------------ page
def _data_period(conn, year_start: date, year_end: date, financial_year: str) -> str:
    months = _rows(conn, "SELECT min(month_start) AS first, max(month_start) AS last FROM marts.responses "
                         "WHERE month_start >= ? AND month_start < ?", [year_start, year_end])
    last_month = date(year_end.year - (year_end.month == 1), (year_end.month - 2) % 12 + 1, 1)
    text = (f"Financial year {financial_year}: victims reported from {year_start:%B %Y} to {last_month:%B %Y}, "
            "interviewed 8 to 12 weeks after their report")
    if months and months[0]["last"] and months[0]["last"] < last_month:
        text += f"; results so far cover {months[0]['first']:%B %Y} to {months[0]['last']:%B %Y} (a part year)"
    return text + "."


def _render(section: Section, number: int) -> str:
    figure = ""
    if section.figure is not None:
        chart = section.figure.to_html(full_html=False, include_plotlyjs=False, config=CONFIG,
                                       default_width=f"{WIDTH}px")
        figure = (f'<figure class="chart" aria-describedby="table-{section.key}">{chart}'
                  f"<figcaption>Figure {number}: {_esc(section.caption)} The table below gives the figures."
                  "</figcaption></figure>")
    table = f'<div class="table" id="table-{section.key}">{section.table}</div>' if section.table else ""
    return (f'<section id="{section.key}"><div class="keep"><h2>{number}. {_esc(section.title)}</h2>'
            f"{section.intro}{figure}</div>{table}</section>")


STYLE = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: Arial, Helvetica, sans-serif; max-width: 720px; margin: 1.5em auto; color: #222; font-size: 14px; }
h1 { color: #003366; font-size: 1.6em; } h2 { color: #003366; font-size: 1.25em; break-after: avoid; }
.notice { border: 3px solid #b00000; background: #fff0f0; padding: .6em .9em; font-weight: bold; }
.meta { color: #444; } .note { color: #555; font-size: .9em; } li { margin: .3em 0; }
.keep, figure.chart { break-inside: avoid; page-break-inside: avoid; }
figure.chart { margin: .5em 0; } figcaption { font-size: .85em; color: #555; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin: .4em 0 1em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th[scope=row], thead th:first-child { text-align: left; } thead th { background: #eef2f7; }
thead { display: table-header-group; } tr { break-inside: avoid; }
tr.low-base th, tr.low-base td { font-style: italic; }
tr.suppressed th, tr.suppressed td { color: #777; }
tr.signal-better th, tr.signal-better td { color: #1b5e20; font-weight: bold; }
tr.signal-worse th, tr.signal-worse td { color: #b00000; font-weight: bold; }
nav ol { columns: 2; }
"""


def build_report(
    conn: duckdb.DuckDBPyConnection, financial_year: str, year_start: date, force_name: str, suppress: int,
    low_base: int = 50, produced_on: date | None = None, synthetic: bool | None = None,
) -> tuple[str, list[Headline]]:
    """(the page's HTML, its headlines) for one financial year."""
    produced_on = produced_on or clock.today()
    synthetic = settings.report_source() == "generator" if synthetic is None else synthetic
    year_end = date(year_start.year + 1, year_start.month, 1)
    previous_year = f"{year_start.year - 1}/{year_start.year % 100:02d}"
    items = headlines(conn, financial_year)
    cells = _rows(conn, f"SELECT * FROM {ANNUAL.name} WHERE financial_year = ?", [financial_year])
    trend = _rows(conn, f"SELECT * FROM {ANNUAL.name} WHERE year_start <= ? AND survey_strand = '{ALL}' "
                        f"AND area = '{ALL}' ORDER BY year_start", [year_start])
    funnel = _rows(conn, "SELECT " + ", ".join(f"sum({k}) AS {k}" for k in
                                               [k for k, _ in FUNNEL_STAGES] + [k for k, _ in COVERAGE_EXCLUSIONS])
                   + " FROM marts.survey_funnel WHERE month_start >= ? AND month_start < ?", [year_start, year_end])
    gaps = _rows(conn, f"SELECT * FROM {GAP.name} WHERE financial_year = ?", [financial_year])
    rolling = _rows(conn, f"SELECT * FROM {ROLLING.name} WHERE period_end < ? AND period_end >= ? "
                          "ORDER BY period_end", [year_end, date(year_start.year - 1, year_start.month, 1)])
    whole_gap = next((g for g in gaps if g["question"] == "whole_experience"), None)

    from vsat_assets.defs.compare.report_section import how_we_compare  # it builds on this module

    sections = [how_we_compare(conn, financial_year, previous_year), _headline_section(items, previous_year, whole_gap,
                                                                                       funnel[0] if funnel else None)]
    if any(_shown(r) for r in trend):
        sections.append(_year_on_year_section(trend, low_base, suppress))
    sections.append(_spc_section(conn, year_start, year_end, suppress))
    sections.append(_rolling_section(rolling, low_base, suppress))
    sections += [_question_section(q, [r for r in cells if r["question"] == q], low_base, suppress)
                 for q in QUESTIONS if any(r["question"] == q and _shown(r) for r in cells)]
    sections.append(_gap_section(gaps, financial_year, low_base, suppress))
    sections.append(_domestic_abuse_section(conn, year_start, year_end, low_base, suppress))
    if funnel:
        sections.append(_funnel_section(funnel[0], suppress))
    sections = [s for s in sections if s is not None]

    esc = _esc
    title = f"{force_name}: Victim Satisfaction Survey {financial_year}"
    contents = "".join(f'<li><a href="#{s.key}">{esc(s.title)}</a></li>' for s in sections)
    contents += '<li><a href="#about">About these figures</a></li>'
    notice = (f'<p class="notice" role="alert">Synthetic data: these figures come from the platform\'s built-in '
              f"data generator, not from {esc(force_name)}'s records or its survey. They illustrate the report "
              "and must not be quoted as results.</p>") if synthetic else ""
    body = "".join(_render(s, i) for i, s in enumerate(sections, 1))
    about = f"""<section id="about"><div class="keep"><h2>About these figures</h2>
<p class="note">Satisfied means completely, very or fairly satisfied, as a share of victims who gave an answer on
the seven-point scale; "don't know" and "not applicable" are left out. Figures are weighted by the sampling design
and adjusted for non-response (calibrated to the eligible victims by strand, area, age band and ethnic group);
intervals are 95% Wilson intervals on the design-based effective sample size (Taylor linearisation over strata). A
change or gap is tested only when both bases reach {low_base}, and called significant when it exceeds the square
root of the sum of the two squared interval half-widths. Figures on fewer than {suppress} respondents, and any
figure from which one could be worked out from the totals, are suppressed (not shown; marked in the tables); figures on fewer than {low_base} respondents are a
low base (open circles in the charts, italics in the tables): read them with care. Domestic abuse victims are
surveyed separately and never counted in the general survey. The full method is docs/method.md in the survey
platform's repository; the figures are in the analysts' file (marts.satisfaction_annual).</p></div></section>"""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(title)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>{STYLE}</style>
</head><body>
<header><h1>{esc(title)}</h1>
{notice}
<p class="meta">Produced on {produced_on.day} {produced_on:%B %Y}. {esc(_data_period(conn, year_start, year_end, financial_year))}
For the Police and Crime Panel, the Police and Crime Commissioner and the force.</p></header>
<nav aria-label="Contents"><h2>Contents</h2><ol>{contents}</ol></nav>
{body}
{about}
</body></html>
"""
    return page, items
