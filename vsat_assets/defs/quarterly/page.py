"""The pack as one self-contained HTML page (plotly inlined, opens offline, prints to A4 PDF):
the headline sentences, a chart of the rolling 12 months against the target, then every table."""

from __future__ import annotations

import html
from datetime import date

from vsat_assets.defs.quarterly.figures import Pack, PackTable
from vsat_assets.defs.quarterly.targets import RAG_MEANING

WIDTH = 680
STYLE = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: Arial, Helvetica, sans-serif; max-width: 720px; margin: 1.5em auto; color: #222; font-size: 14px; }
h1 { color: #003366; font-size: 1.5em; } h2 { color: #003366; font-size: 1.2em; break-after: avoid; }
.notice { border: 3px solid #b00000; background: #fff0f0; padding: .6em .9em; font-weight: bold; }
.meta, .note { color: #555; } .note { font-size: .9em; }
section, figure { break-inside: avoid; page-break-inside: avoid; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin: .4em 0 1em; }
caption { position: absolute; left: -10000px; }  /* read by screen readers; the h2 above shows it */
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th[scope=row], thead th:first-child { text-align: left; } thead th { background: #eef2f7; }
tr.suppressed th, tr.suppressed td { color: #777; }
td.rag-green { background: #d9ead3; } td.rag-amber { background: #fff2cc; } td.rag-red { background: #f4cccc; }
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_table(table: PackTable) -> str:
    head = "".join(f'<th scope="col">{_esc(c)}</th>' for c in table.columns)
    body = []
    for i, row in enumerate(table.rows):
        css = ' class="suppressed"' if i in table.suppressed_rows else ""
        cells = "".join(
            f'<td class="rag-{str(v).lower()}">{_esc(_cell(v))}</td>' if c == "Rating" and v
            else f"<td>{_esc(_cell(v))}</td>" for c, v in zip(table.columns[1:], row[1:]))
        body.append(f'<tr{css}><th scope="row">{_esc(_cell(row[0]))}</th>{cells}</tr>')
    empty = "" if table.rows else f'<p class="note">No figures published for this table yet.</p>'
    return (f'<section id="{table.key.lower()}"><h2>{_esc(table.title)}</h2>'
            f'<p class="note">{_esc(table.description)}</p>'
            f'<table><caption>{_esc(table.title)}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{empty}</section>')


def _chart(pack: Pack) -> str:
    import plotly.graph_objects as go

    rows = pack.rolling_trend
    if not rows:
        return ""
    target = pack.targets.general_whole_experience_pct
    x = [r["period_end_month"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=x, y=[r["satisfied_pct"] for r in rows], mode="lines+markers", name="% satisfied (95% interval)",
        error_y=dict(type="data", symmetric=False, array=[r["ci_high"] - r["satisfied_pct"] for r in rows],
                     arrayminus=[r["satisfied_pct"] - r["ci_low"] for r in rows]),
        line=dict(color="#1f4e79")))
    fig.add_trace(go.Scatter(x=x, y=[target] * len(x), mode="lines", name=f"Target {target:g}%",
                             line=dict(color="#b00000", dash="dash")))
    lows = [r["ci_low"] for r in rows] + [target]
    highs = [r["ci_high"] for r in rows] + [target]
    fig.update_layout(title=dict(text="Whole experience, rolling 12 months to each quarter's end", x=0,
                                 font=dict(size=15)), width=WIDTH, height=340, plot_bgcolor="white",
                      margin=dict(l=10, r=20, t=60, b=50), legend=dict(orientation="h", y=-0.25, x=0),
                      font=dict(family="Arial", size=12))
    fig.update_yaxes(range=[max(0, min(lows) - 3), min(100, max(highs) + 3)], title_text="% satisfied",
                     gridcolor="#e5e5e5")
    fig.update_xaxes(type="category", title_text="Last month of the 12", gridcolor="#e5e5e5")
    chart = fig.to_html(full_html=False, include_plotlyjs=False, config={"displayModeBar": False},
                        default_width=f"{WIDTH}px")
    return (f'<figure aria-describedby="rolling_12_months">{chart}<figcaption class="note">Figure 1: the general '
            "survey's whole experience over rolling 12 months with its 95% interval, against the target; the "
            "figures are in the table Whole experience over rolling 12 months.</figcaption></figure>")


def build_page(pack: Pack, force_name: str, produced_on: date, synthetic: bool) -> str:
    from plotly.offline import get_plotlyjs

    title = f"{force_name}: Police and Crime Commissioner's quarterly pack, {pack.label}"
    notice = (f'<p class="notice" role="alert">Synthetic data: these figures come from the platform\'s built-in '
              f"data generator, not from {_esc(force_name)}'s records. They must not be quoted as results.</p>"
              if synthetic else "")
    sentences = "".join(f"<li>{_esc(s)}</li>" for s in pack.sentences)
    contents = "".join(f'<li><a href="#{t.key.lower()}">{_esc(t.title)}</a></li>' for t in pack.tables)
    rag = "".join(f"<li>{_esc(m)}</li>" for m in RAG_MEANING.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>{STYLE}</style></head><body>
<header><h1>{_esc(title)}</h1>{notice}
<p class="meta">Produced on {produced_on.day} {produced_on:%B %Y}. National police and crime measure: improve
satisfaction amongst victims, with a particular focus on victims of domestic abuse.</p></header>
<section id="summary"><h2>Summary</h2><ul>{sentences}</ul>
<p class="note">Ratings:</p><ul class="note">{rag}</ul></section>
{_chart(pack)}
<nav aria-label="Contents"><h2>Tables</h2><ol>{contents}</ol></nav>
{"".join(render_table(t) for t in pack.tables)}
<section id="about"><h2>About these figures</h2><p class="note">Satisfied means completely, very or fairly
satisfied, as a share of victims who answered on the seven-point scale. Figures are weighted and carry 95%
intervals (docs/method.md). Only figures the published tables hold are shown: a suppressed figure shows no
figure and no base. The same tables are in the pack's spreadsheet (ODS and XLSX).</p></section>
</body></html>
"""
