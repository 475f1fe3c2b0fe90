"""The annual report's "How we compare" section, read from marts.satisfaction_comparison and
marts.satisfaction_gap (what disclosure control published). Called by report.build_report;
imported there when a report is built, after report.py itself has loaded."""

from __future__ import annotations

from vsat_assets.defs.annual.report import EN_DASH, QUESTION_LABELS, Section, _esc, _rows, _table
from vsat_assets.defs.compare import mart, stats
from vsat_assets.vocabulary import ALL, QUESTION_PHRASES, QUESTIONS

GAP = "marts.satisfaction_gap"
HEADLINE_QUESTION = "whole_experience"


def _plus_minus(low: float, high: float) -> str:
    return f"± {(high - low) / 2:.1f}"


def _figure(pct: float, low: float, high: float) -> str:
    return f"{pct:.1f}% ({_plus_minus(low, high)})"


def _clause(row: dict) -> str | None:
    """'higher than England and Wales (85.0% ± 0.2)' or why the figures were not compared."""
    name = mart.COMPARATOR_LABELS[row["comparator"]]
    if row["comparator"] == mart.PREVIOUS_YEAR:
        name = f"the previous year, {row['comparator_period']}"
    if row["comparator_pct"] is None:
        return None
    figure = f"{row['comparator_pct']:.1f}% {_plus_minus(row['comparator_ci_low'], row['comparator_ci_high'])}"
    if row["verdict"] is None:
        return f"not compared with {name} ({figure}): a low base"
    return f"{row['verdict']} {name} ({figure})"


def comparison_sentence(year: str, question: str, rows: list[dict]) -> str | None:
    """One sentence per question, as inspection reports word it; None when the force's figure is
    not published."""
    order = [c for c, _ in mart.COMPARATORS]
    rows = sorted((r for r in rows if r["force_pct"] is not None), key=lambda r: order.index(r["comparator"]))
    if not rows:
        return None
    force = rows[0]
    clauses = [c for c in (_clause(r) for r in rows) if c]
    opening = (f"In {year}, {_figure(force['force_pct'], force['force_ci_low'], force['force_ci_high'])} of victims "
               f"were satisfied with {QUESTION_PHRASES[question]}")
    if not clauses:
        return opening + "."
    joined = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
    return f"{opening}: {joined}."


def gap_change_sentence(conn, year: str, previous_year: str) -> str | None:
    """In words, whether the white / ethnic-minority gap in whole experience moved significantly."""
    rows = {r["financial_year"]: r for r in _rows(conn, f"SELECT * FROM {GAP} WHERE question = ? "
                                                         "AND financial_year IN (?, ?)",
                                                  [HEADLINE_QUESTION, year, previous_year])}
    change = stats.gap_change(rows.get(previous_year), rows.get(year), previous_year, year)
    return change.sentence(QUESTION_PHRASES[HEADLINE_QUESTION]) if change else None


def _cell(row: dict | None, prefix: str) -> str:
    if row is None or row[f"{prefix}_pct"] is None:
        return ""
    return f"{row[f'{prefix}_pct']:.1f}% ({row[f'{prefix}_ci_low']:.1f}{EN_DASH}{row[f'{prefix}_ci_high']:.1f})"


def _verdict_cell(row: dict | None) -> str:
    if row is None:
        return ""
    if row["suppressed"]:
        return "Suppressed"
    if row["verdict"] is None:
        return "Not tested: low base"
    return f"{row['verdict'].capitalize()} ({row['difference_pp']:+.1f} points)"


def how_we_compare(conn, financial_year: str, previous_year: str) -> Section:
    rows = _rows(conn, f"SELECT * FROM {mart.TABLE} WHERE financial_year = ? AND survey_strand = '{ALL}'",
                 [financial_year])
    by_question = {q: [r for r in rows if r["question"] == q] for q in QUESTIONS}
    headline = comparison_sentence(financial_year, HEADLINE_QUESTION, by_question[HEADLINE_QUESTION])
    others = [s for q in QUESTIONS if q != HEADLINE_QUESTION
              and (s := comparison_sentence(financial_year, q, by_question[q]))]
    gap = gap_change_sentence(conn, financial_year, previous_year)
    parts = []
    if headline:
        parts.append(f'<p class="compare-headline"><strong>{_esc(headline)}</strong></p>')
    if others:
        parts.append("<ul>" + "".join(f"<li>{_esc(s)}</li>" for s in others) + "</ul>")
    if not any(r["comparator"] != mart.PREVIOUS_YEAR for r in rows):
        parts.append("<p>No England and Wales or most similar group figures have been imported for this year "
                     "(the comparator files), so the force is compared with its previous year only.</p>")
    if gap:
        parts.append(f"<p>{_esc(gap)}</p>")
    parts.append("<p class=\"note\">\"Higher than\" or \"lower than\" only when the difference is larger than "
                 "chance would allow at 95%, allowing for the force being part of England and Wales and of its "
                 "most similar group; otherwise \"broadly in line with\". General survey, whole force.</p>")
    table_rows = []
    for q in QUESTIONS:
        found = {r["comparator"]: r for r in by_question[q]}
        if not found:
            continue
        any_row = next(iter(found.values()))
        table_rows.append(([QUESTION_LABELS[q], _cell(any_row, "force"),
                            *(cell for c, _ in mart.COMPARATORS
                              for cell in (_cell(found.get(c), "comparator"), _verdict_cell(found.get(c))))],
                           "suppressed" if any_row["force_pct"] is None else ""))
    table = _table(f"How we compare, {financial_year}: % satisfied with 95% interval",
                   ["Question", "Force", "England and Wales", "Force vs England and Wales", "Most similar group",
                    "Force vs most similar group", f"Previous year ({previous_year})", "Force vs previous year"],
                   table_rows) if table_rows else ""
    return Section("compare", "How we compare", "".join(parts), table=table)
