"""The pack's tables, read from the published marts: one PackTable per sheet of the spreadsheet and
per table of the page, so both show the same figures.

Only what the marts publish is shown: a row whose `suppressed` flag is set keeps its label and a
note, never a figure or a base. No respondent-level table is read (marts.responses is not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from vsat_assets.defs.quarterly import quarters
from vsat_assets.defs.quarterly.targets import PackTargets, rag
from vsat_assets.lookups import label
from vsat_assets.partitions import financial_year_of
from vsat_assets.vocabulary import ALL, QUESTION_PHRASES, QUESTIONS

if TYPE_CHECKING:
    import duckdb

HEADLINE = "whole_experience"
ROLLING_PERIODS = 8  # quarter-end periods in the trend table (two years)
ESTIMATE = ["Respondents", "Satisfied (%)", "Lower 95% limit (%)", "Upper 95% limit (%)"]


@dataclass
class PackTable:
    key: str      # sheet name and HTML id: letters and underscores, at most 31 characters
    title: str
    columns: list[str]
    rows: list[list]  # str labels, int bases, float figures (one decimal), None for a blank cell
    description: str = ""
    suppressed_rows: list[int] = field(default_factory=list)  # indexes of rows shown without figures


@dataclass
class Pack:
    quarter_start: date
    label: str
    sentences: list[str]
    tables: list[PackTable]
    gap_sentence: str | None
    rolling_trend: list[dict]  # shown rolling periods, for the chart
    targets: PackTargets


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    import duckdb

    try:
        result = conn.execute(sql, params)
    except duckdb.CatalogException:  # the mart has not been built yet: the table is empty
        return []
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def _one(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Yes" if value else "No")


class Notes:
    def __init__(self, low_base: int, suppress: int):
        self.low_base, self.suppress = low_base, suppress

    def of(self, row: dict | None) -> str | None:
        if row is None:
            return "No figure published"
        if row.get("suppressed"):
            return f"Suppressed: fewer than {self.suppress} respondents, or would reveal such a figure"
        if row.get("low_base"):
            return f"Low base: fewer than {self.low_base} respondents"
        return "Published"


def _estimate(row: dict | None) -> list:
    if row is None or row.get("suppressed"):
        return [None] * 4
    return [row["respondents"], _one(row["satisfied_pct"]), _one(row["ci_low"]), _one(row["ci_high"])]


def _table(key: str, title: str, columns: list[str], labelled: list[tuple[list, dict | None]], notes: Notes,
           description: str = "") -> PackTable:
    """Rows from (cells, the mart row they come from): a suppressed or missing mart row keeps only its labels."""
    rows, hidden = [], []
    for i, (cells, source) in enumerate(labelled):
        rows.append([*cells, notes.of(source)])
        if source is None or source.get("suppressed"):
            hidden.append(i)
    return PackTable(key, title, [*columns, "Note"], rows, description, hidden)


def _rating_row(measure: str, row: dict | None, target: float) -> tuple[list, dict | None]:
    shown = row is not None and not row.get("suppressed")
    rating = rag(row["ci_low"], row["ci_high"], target) if shown else None
    period = row["label"] if row else None
    return [measure, period, *_estimate(row), target, rating.capitalize() if rating else None], row


def _headline_sentence(what: str, period: str, row: dict | None, target: float) -> str:
    if row is None or row.get("suppressed"):
        return f"{what}, {period}: no figure published."
    rating = rag(row["ci_low"], row["ci_high"], target)
    return (f"{what}, {row['label']}: {row['satisfied_pct']:.1f}% (95% interval {row['ci_low']:.1f}% to "
            f"{row['ci_high']:.1f}%, {row['respondents']:,} respondents) were satisfied with the whole experience; "
            f"{rating} against the target of {target:g}%.")


def _year_on_year(key: str, kind: str, heading: str, cells: list[dict], previous: dict, year: str,
                  previous_year: str, notes: Notes) -> PackTable:
    labelled = []
    for row in cells:
        code = row["survey_strand"] if kind == "strand" else row["area"]
        before = previous.get(code)
        before_pct = None if before is None or before.get("suppressed") else _one(before["satisfied_pct"])
        shown = not row.get("suppressed")
        labelled.append(([label(kind, code), *_estimate(row), before_pct if shown else None,
                          _one(row["change_vs_previous_pp"]) if shown else None,
                          _yes_no(row["change_significant"]) if shown else None], row))
    return _table(key, f"Whole experience by {heading}, {year} against {previous_year}", [
        heading.capitalize(), *ESTIMATE, f"{previous_year} satisfied (%)", "Change (points)", "Change significant"],
        labelled, notes, "General survey, whole force. A change is tested when both years have at least the "
        "low-base number of respondents; significant when it exceeds the square root of the sum of the two "
        "squared interval half-widths.")


def build(conn: duckdb.DuckDBPyConnection, quarter_start: date, targets: PackTargets, low_base: int,
          suppress: int) -> Pack:
    notes = Notes(low_base, suppress)
    last = quarters.last_month(quarter_start)
    year_start = quarters.last_complete_year_start(quarter_start)
    year, previous_year = financial_year_of(year_start), financial_year_of(date(year_start.year - 1, 4, 1))
    period = f"12 months to {last:%B %Y}"

    rolling = _rows(conn, "SELECT * FROM marts.satisfaction_rolling WHERE period_end <= ? "
                          "ORDER BY period_end DESC LIMIT ?", [last, ROLLING_PERIODS])[::-1]
    current = next((r for r in rolling if r["period_end"] == last), None)
    da = {r["question"]: r for r in _rows(conn, "SELECT * FROM marts.satisfaction_da_quarterly WHERE period_end = ?",
                                          [last])}
    da_whole = da.get(HEADLINE)
    t_general, t_da = targets.general_whole_experience_pct, targets.domestic_abuse_whole_experience_pct

    target_table = _table("Targets", f"Whole experience against the plan's targets, {quarters.quarter_label(quarter_start)}",
                          ["Measure", "Period", *ESTIMATE, "Target (%)", "Rating"],
                          [_rating_row("General survey", current, t_general),
                           _rating_row("Domestic abuse survey", da_whole, t_da)], notes,
                          "Green: the whole 95% interval is at or above the target; amber: the interval includes "
                          "the target; red: the whole interval is below it. No rating where no figure is published.")
    rolling_table = _table("Rolling_12_months", f"Whole experience over rolling 12 months, to {last:%B %Y}",
                           ["Period", *ESTIMATE], [([r["label"], *_estimate(r)], r) for r in rolling], notes,
                           "General survey (every strand but domestic abuse), each period's respondents calibrated "
                           "to its own months' eligible victims.")
    da_table = _table("Domestic_abuse", f"Domestic abuse survey, 3 months to {last:%B %Y}",
                      ["Question", *ESTIMATE], [([label("question", q), *_estimate(da.get(q))], da.get(q))
                                                for q in QUESTIONS if q in da], notes,
                      "The domestic abuse survey's own interviews, each month calibrated to its eligible victims.")

    gaps = _rows(conn, "SELECT * FROM marts.satisfaction_gap WHERE question = ? AND year_start <= ? "
                       "ORDER BY year_start", [HEADLINE, year_start])
    gap_table = _table("Ethnic_minority_gap", f"Whole experience of white and ethnic-minority victims, to {year}",
                       ["Financial year", "White respondents", "White satisfied (%)", "Ethnic-minority respondents",
                        "Ethnic-minority satisfied (%)", "Gap (points)", "Gap significant"],
                       [([g["financial_year"], *_gap_cells(g)], g) for g in gaps], notes,
                       "Statutory Performance Indicator 1.2: white minus ethnic-minority % satisfied, general "
                       "survey, per financial year.")
    gap_sentence = _gap_sentence(gaps)

    cells = _rows(conn, "SELECT * FROM marts.satisfaction_annual WHERE financial_year IN (?, ?) AND question = ? "
                        "AND (survey_strand = ? OR area = ?) AND NOT (survey_strand = ? AND area = ?)",
                  [year, previous_year, HEADLINE, ALL, ALL, ALL, ALL])
    this = [c for c in cells if c["financial_year"] == year]
    before = [c for c in cells if c["financial_year"] == previous_year]
    strands = _year_on_year("By_strand", "strand", "survey strand",
                            sorted((c for c in this if c["area"] == ALL), key=lambda c: c["survey_strand"]),
                            {c["survey_strand"]: c for c in before if c["area"] == ALL}, year, previous_year, notes)
    areas = _year_on_year("By_area", "area", "policing area",
                          sorted((c for c in this if c["survey_strand"] == ALL), key=lambda c: c["area"]),
                          {c["area"]: c for c in before if c["survey_strand"] == ALL}, year, previous_year, notes)

    compared = _rows(conn, "SELECT * FROM marts.satisfaction_comparison WHERE financial_year = ? AND comparator = 'E&W' "
                           "AND survey_strand = ?", [year, ALL])
    by_question = {r["question"]: r for r in compared}
    england_wales = _table("England_and_Wales", f"The force against England and Wales, {year}",
                           ["Question", "Force satisfied (%)", "Force lower 95% limit (%)",
                            "Force upper 95% limit (%)", "England and Wales satisfied (%)", "Difference (points)",
                            "Verdict"],
                           [([label("question", q), *([None] * 6 if r["suppressed"] else [
                               _one(r["force_pct"]), _one(r["force_ci_low"]), _one(r["force_ci_high"]),
                               _one(r["comparator_pct"]), _one(r["difference_pp"]), r["verdict"]])], r)
                            for q in QUESTIONS if (r := by_question.get(q))], notes,
                           "General survey, whole force. 'Higher than' or 'lower than' only when the difference's "
                           "95% interval (allowing for the force inside England and Wales) excludes 0.")

    sentences = [_headline_sentence("General survey", period, current, t_general),
                 _headline_sentence("Domestic abuse survey", f"3 months to {last:%B %Y}", da_whole, t_da)]
    whole_ew = by_question.get(HEADLINE)
    if whole_ew and not whole_ew["suppressed"] and whole_ew["verdict"]:
        sentences.append(f"In {year}, the force's {whole_ew['force_pct']:.1f}% satisfied with the whole experience "
                         f"was {whole_ew['verdict']} England and Wales ({whole_ew['comparator_pct']:.1f}%).")
    if gap_sentence:
        sentences.append(gap_sentence)
    shown_rolling = [r for r in rolling if not r["suppressed"] and r["satisfied_pct"] is not None]
    return Pack(quarter_start, quarters.quarter_label(quarter_start), sentences,
                [target_table, rolling_table, da_table, gap_table, strands, areas, england_wales],
                gap_sentence, shown_rolling, targets)


def _gap_cells(gap: dict) -> list:
    """Each group's figures as the mart publishes them (it hides a small group's own); the gap only
    when neither group is suppressed. Hiding the white group too would contradict the marts."""
    groups = [gap["white_respondents"], _one(gap["white_pct"]), gap["ethnic_minority_respondents"],
              _one(gap["ethnic_minority_pct"])]
    return groups + ([None, None] if gap["suppressed"] else [_one(gap["gap_pp"]), _yes_no(gap["gap_significant"])])


def _gap_sentence(gaps: list[dict]) -> str | None:
    """Said only when the latest year's gap moved significantly from the year before (compare.stats)."""
    from vsat_assets.defs.compare import stats

    if len(gaps) < 2:
        return None
    previous, current = gaps[-2], gaps[-1]
    change = stats.gap_change(previous, current, previous["financial_year"], current["financial_year"])
    if change is None or not change.significant:
        return None
    return change.sentence(QUESTION_PHRASES[HEADLINE])
