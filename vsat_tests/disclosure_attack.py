"""An intruder's attack on everything a data folder publishes, to test disclosure control.

The intruder holds every published output together: the analysts' file, every dated extract
(Parquet and CSV), the HMICFRS exports, the annual reports' tables and the Police and Crime
Commissioner's quarterly packs (their ODS and XLSX sheets). The targets are the
cells some output marks `suppressed` and shows without a base. The truth comes from the pipeline's warehouse, which
the intruder never sees. A target is disclosed when

* an output shows its figure or its base (a direct leak, e.g. a table that forgot the flag);
* an output holds respondent-level rows (a `survey_id` or a weight per row): the target is
  recomputed by a `group by` and compared with the truth;
* its base follows exactly from the published counts: a linear programme over every count
  the outputs publish (respondents of each cell and margin, interviews per stratum and per
  weighting category, completed interviews per month in the funnel, the gap's groups, the
  rolling periods and the domestic abuse months and rolling quarters), with the margins'
  sums, interviews >= answers and counts >= 0. The base is disclosed when its minimum and
  maximum over the feasible counts are equal (differencing is the case of one unknown;
  bounds can pin a cell too);
* its value follows by differencing a relation (a margin and its parts, a quarter and its
  months) in which it is the only cell without a published value and every base is known,
  with the bases as weights, to within 1 point of the truth.

A count of respondents under the threshold anywhere in the outputs is a finding too.
"""

from __future__ import annotations

import csv
import html.parser
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from vsat_assets import lookups
from vsat_assets.defs.annual.report import QUESTION_LABELS
from vsat_assets.defs.annual.tables import QUESTIONS

ALL = "ALL"
COUNT_COLUMNS = re.compile(r"^(respondents|completed|force_respondents|white_respondents|ethnic_minority_respondents)$")
MICRODATA_COLUMNS = {"survey_id", "design_weight", "calibrated_weight", "rolling_weight"}
VALUE_TOLERANCE = 1.0


@dataclass
class Outputs:
    """Every published table, as rows of dicts, keyed by where it was found."""
    tables: dict[str, tuple[str, list[dict]]] = field(default_factory=dict)  # source -> (kind, rows)

    def add(self, source: str, kind: str, rows: list[dict]) -> None:
        self.tables[source] = (kind, rows)

    def of_kind(self, kind: str):
        return [(source, rows) for source, (k, rows) in self.tables.items() if k == kind]


# ------------------------------------------------------------------ reading what is published
def _rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def _csv_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: _typed(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _typed(text: str):
    if text in ("", None):
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


class _Tables(html.parser.HTMLParser):
    """The <table>s of an HTML page: caption and rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption" and self._caption is not None:
            caption, rows = self.tables[-1]
            self.tables[-1] = ("".join(self._caption).strip(), rows)
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def _number(text: str):
    text = text.replace(",", "").rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        return None


def _report_rows(path: Path, strand_codes: set[str], area_codes: set[str]) -> list[dict]:
    """The report's strand and area tables as annual rows (question, strand, area, base, value)."""
    year = re.search(r"(\d{4})-(\d{2})", path.stem)
    financial_year = f"{year.group(1)}/{year.group(2)}"
    by_label = {v: k for k, v in QUESTION_LABELS.items()}
    strands = {lookups.label("strand", code): code for code in strand_codes}
    areas = {lookups.label("area", code): code for code in area_codes}
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    out = []
    for caption, rows in parser.tables:
        question = next((q for label, q in by_label.items() if caption.startswith(f"{label}: % satisfied by")), None)
        if question is None:
            continue
        for cells in rows[1:]:
            heading = cells[0]
            strand, area = (ALL, ALL) if heading == "Whole force" else (None, None)
            if heading.startswith("Strand: "):
                strand, area = strands.get(heading[8:]), ALL
            elif heading.startswith("Area: "):
                strand, area = ALL, areas.get(heading[6:])
            if strand is None or area is None:
                continue
            base, value = _number(cells[1]), _number(cells[2])
            out.append({"financial_year": financial_year, "question": question, "survey_strand": strand,
                        "area": area, "respondents": None if base is None else int(base), "satisfied_pct": value,
                        "suppressed": base is None})
    return out


# ------------------------------------------------------------------ the PCC's quarterly pack
# Each sheet of the pack's spreadsheets (vsat_assets/defs/quarterly/figures.py) read as rows of the
# marts it shows. Left out, as cells the truth does not model: the 95% limits, the targets and
# ratings, the gap in points and its test (white minus ethnic-minority: both figures are read), the
# change tests, and England and Wales's own figure and the difference from it (a national figure).
PACK_HEADLINE = "whole_experience"


def _pack_cell(value):
    """A sheet's cell: None for a blank (ODS) or the [x] shorthand (XLSX)."""
    if value is None or value == "[x]" or (isinstance(value, float) and value != value):
        return None
    return value


def _pack_tables(path: Path) -> list[tuple[str, str, list[dict]]]:
    """(sheet, title, rows keyed by column heading) of each table sheet; the header row is the one
    ending in the Note column, under the title row and (XLSX) gptables' description lines."""
    import pandas as pd

    out = []
    for sheet, frame in pd.read_excel(path, sheet_name=None, header=None).items():
        grid = [[_pack_cell(v) for v in row] for row in frame.itertuples(index=False)]
        header_at = next((i for i, row in enumerate(grid) if i > 0 and "Note" in row), None)
        if header_at is None:  # cover, contents, notes
            continue
        columns = grid[header_at]
        rows = [dict(zip(columns, row)) for row in grid[header_at + 1:]]
        # Every row of a table has a note; gptables' stand-in row for an empty table has none.
        rows = [row for row in rows if row["Note"] is not None]
        out.append((sheet, grid[0][0], rows))
    return out


def _month_minus(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _period(label: str) -> tuple[str, str] | None:
    """(last month, first month) of '12 months to March 2026' or '3 months to March 2026 (partial ...)'."""
    found = re.search(r"(\d+) months? to (\w+ \d{4})", label or "")
    if not found:
        return None
    end = datetime.strptime(found.group(2), "%B %Y").date()
    return f"{end:%Y-%m}", f"{_month_minus(end, int(found.group(1)) - 1):%Y-%m}"


def _estimate(row: dict) -> dict:
    return {"respondents": row["Respondents"], "satisfied_pct": row["Satisfied (%)"],
            "suppressed": str(row["Note"]).startswith("Suppressed")}


def _rolling_row(row: dict, label: str) -> tuple[str, dict] | None:
    end, first = _period(label) or (None, None)
    return end and ("satisfaction_rolling", {"period_end_month": end, "first_month": first, **_estimate(row)})


def _da_row(row: dict, label: str, question: str) -> tuple[str, dict] | None:
    end, _ = _period(label) or (None, None)
    return end and ("satisfaction_da_quarterly", {"period_end_month": end, "question": question, **_estimate(row)})


def _targets(title: str, rows: list[dict], codes: dict) -> list:
    # General survey: the rolling 12 months to the quarter's end; domestic abuse: its rolling quarter.
    return [_rolling_row(r, r["Period"]) if r["Measure"] == "General survey" else
            _da_row(r, r["Period"], PACK_HEADLINE) for r in rows]


def _rolling(title: str, rows: list[dict], codes: dict) -> list:
    return [_rolling_row(r, r["Period"]) for r in rows]


def _domestic_abuse(title: str, rows: list[dict], codes: dict) -> list:
    return [_da_row(r, title, codes["question"].get(r["Question"])) for r in rows]


def _gap(title: str, rows: list[dict], codes: dict) -> list:
    return [("satisfaction_gap", {
        "financial_year": r["Financial year"], "question": PACK_HEADLINE,
        "white_respondents": r["White respondents"], "white_pct": r["White satisfied (%)"],
        "ethnic_minority_respondents": r["Ethnic-minority respondents"],
        "ethnic_minority_pct": r["Ethnic-minority satisfied (%)"],
        "suppressed": str(r["Note"]).startswith("Suppressed")}) for r in rows]


def _year_on_year(title: str, rows: list[dict], kind: str, heading: str, codes: dict) -> list:
    """This year's cell, and last year's figure twice: its column, and this year's less the change."""
    year, previous = re.search(r"(\d{4}/\d{2}) against (\d{4}/\d{2})", title).groups()
    out = []
    for r in rows:
        code = codes[kind].get(r[heading])
        cell = {"question": PACK_HEADLINE, "survey_strand": code if kind == "strand" else ALL,
                "area": code if kind == "area" else ALL}
        out.append(("satisfaction_annual", {**cell, "financial_year": year, **_estimate(r)}))
        change, now = r["Change (points)"], r["Satisfied (%)"]
        for before in (r[f"{previous} satisfied (%)"], None if change is None or now is None else now - change):
            if before is not None:
                out.append(("satisfaction_annual", {**cell, "financial_year": previous, "respondents": None,
                                                    "satisfied_pct": before, "suppressed": False}))
    return out


def _by_strand(title: str, rows: list[dict], codes: dict) -> list:
    return _year_on_year(title, rows, "strand", "Survey strand", codes)


def _by_area(title: str, rows: list[dict], codes: dict) -> list:
    return _year_on_year(title, rows, "area", "Policing area", codes)


def _england_and_wales(title: str, rows: list[dict], codes: dict) -> list:
    year = re.search(r"(\d{4}/\d{2})$", title).group(1)
    return [("satisfaction_comparison", {
        "financial_year": year, "question": codes["question"].get(r["Question"]), "survey_strand": ALL,
        "force_respondents": None, "force_pct": r["Force satisfied (%)"],
        "suppressed": str(r["Note"]).startswith("Suppressed")}) for r in rows]


PACK_SHEETS = {"Targets": _targets, "Rolling_12_months": _rolling, "Domestic_abuse": _domestic_abuse,
               "Ethnic_minority_gap": _gap, "By_strand": _by_strand, "By_area": _by_area,
               "England_and_Wales": _england_and_wales}


def _pack_rows(path: Path, strand_codes: set[str], area_codes: set[str]) -> list[tuple[str, str, list[dict]]]:
    """(sheet, kind, rows) of the pack's table sheets, a sheet's rows grouped by the mart they come from."""
    codes = {"question": {lookups.label("question", q): q for q in QUESTIONS},
             "strand": {lookups.label("strand", c): c for c in strand_codes},
             "area": {lookups.label("area", c): c for c in area_codes}}
    out = []
    for sheet, title, rows in _pack_tables(path):
        if sheet not in PACK_SHEETS:
            raise AssertionError(f"{path.name}: the attack does not know which cells sheet {sheet} shows")
        by_kind = defaultdict(list)
        for kind, row in filter(None, PACK_SHEETS[sheet](title, rows, codes)):
            by_kind[kind].append(row)
        out += [(sheet, kind, kind_rows) for kind, kind_rows in by_kind.items()]
    return out


def read_outputs(data_dir: Path, truth: Truth) -> Outputs:
    outputs = Outputs()
    published = data_dir / "vsat_analytics.duckdb"
    if published.exists():
        with duckdb.connect(str(published), read_only=True) as conn:
            for schema, table in conn.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall():
                outputs.add(f"{published.name}:{schema}.{table}", table, _rows(conn, f"SELECT * FROM {schema}.{table}"))
    for path in sorted((data_dir / "extracts").glob("*/*")):
        if path.suffix == ".parquet":
            outputs.add(str(path.relative_to(data_dir)), path.stem, _rows(duckdb.connect(), f"SELECT * FROM '{path}'"))
        elif path.suffix == ".csv":
            outputs.add(str(path.relative_to(data_dir)), path.stem, _csv_rows(path))
    for path in sorted((data_dir / "exports").glob("*.csv")):
        # the HMICFRS export and the national extract are cells of the annual table (the latter area ALL)
        kind = "satisfaction_annual" if path.name.startswith(("hmicfrs_", "national_")) else path.stem
        outputs.add(str(path.relative_to(data_dir)), kind, _csv_rows(path))
    strand_codes, area_codes = {k[3] for k in truth.base if k[0] == "A"}, {k[4] for k in truth.base if k[0] == "A"}
    for path in sorted((data_dir / "reports").glob("vsat_annual_report_*.html")):
        outputs.add(str(path.relative_to(data_dir)), "satisfaction_annual", _report_rows(path, strand_codes, area_codes))
    # The pack's HTML page is not parsed: page.render_table draws the same PackTables as the
    # spreadsheets' sheets (figures.build makes one list for both), and its sentences and chart
    # repeat figures of the Targets and Rolling_12_months tables.
    for path in sorted((data_dir / "reports").glob("vsat_pcc_pack_*")):
        if path.suffix in (".ods", ".xlsx"):
            for sheet, kind, rows in _pack_rows(path, strand_codes, area_codes):
                outputs.add(f"{path.relative_to(data_dir)}:{sheet}:{kind}", kind, rows)
    return outputs


# ------------------------------------------------------------------ the truth, from the warehouse
def _fy(month: date) -> str:
    first = month.year if month.month >= 4 else month.year - 1
    return f"{first}/{str(first + 1)[2:]}"


@dataclass
class Truth:
    base: dict[tuple, int]
    value: dict[tuple, float]
    months: list[date]


def read_truth(warehouse: Path) -> Truth:
    """Bases and weighted % satisfied of every cell the outputs could publish, by the method."""
    base, value = {}, {}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        answers = " UNION ALL ".join(
            f"SELECT '{q}' AS question, {q} AS code, * EXCLUDE ({', '.join(QUESTIONS)}) FROM marts.responses "
            "WHERE outcome = 'COMPLETE'" for q in QUESTIONS)
        conn.execute(f"CREATE TEMP TABLE a AS SELECT * FROM ({answers}) WHERE code BETWEEN 1 AND 7")
        stat = "count(*), 100 * sum(calibrated_weight * (code <= 3)::int) / sum(calibrated_weight)"
        for fy, q, s, a, n, p in conn.execute(f"""
                SELECT financial_year, question, coalesce(survey_strand, 'ALL'), coalesce(area, 'ALL'), {stat}
                FROM a WHERE survey_strand <> 'DOMESTIC_ABUSE'
                GROUP BY GROUPING SETS ((financial_year, question), (financial_year, question, survey_strand),
                    (financial_year, question, area), (financial_year, question, survey_strand, area))""").fetchall():
            base[("A", fy, q, s, a)], value[("A", fy, q, s, a)] = n, p
        for fy, q, g, n, p in conn.execute(f"""SELECT financial_year, question, ethnic_group, {stat} FROM a
                WHERE survey_strand <> 'DOMESTIC_ABUSE' AND ethnic_group <> 'NOT_STATED' GROUP BY ALL""").fetchall():
            base[("G", fy, q, g)], value[("G", fy, q, g)] = n, p
        for m, q, n, p in conn.execute(f"""SELECT month, question, {stat} FROM a
                WHERE survey_strand = 'DOMESTIC_ABUSE' GROUP BY ALL""").fetchall():
            base[("DM", m, q)], value[("DM", m, q)] = n, p
        for fy, s, a, n in conn.execute("""SELECT financial_year, survey_strand, area, count(*) FROM marts.responses
                WHERE outcome = 'COMPLETE' AND survey_strand <> 'DOMESTIC_ABUSE' GROUP BY ALL""").fetchall():
            base[("N", fy, s, a)] = n
        months = [m for (m,) in conn.execute("SELECT DISTINCT month_start FROM marts.responses ORDER BY 1").fetchall()]
        for m, n in conn.execute("""SELECT month, count(*) FROM a WHERE survey_strand <> 'DOMESTIC_ABUSE'
                AND question = 'whole_experience' GROUP BY ALL""").fetchall():
            base[("RM", m)] = n
        labels = [m.strftime("%Y-%m") for m in months]
        for q in QUESTIONS:
            for i, end in enumerate(labels):
                base[("DQ", end, q)] = sum(base.get(("DM", m, q), 0) for m in labels[max(0, i - 2):i + 1]
                                           if _months_apart(m, end) < 3)
        for end, first in conn.execute("SELECT period_end_month, first_month FROM marts.satisfaction_rolling").fetchall():
            base[("R", end, first)] = sum(n for k, n in base.items() if k[0] == "RM" and first <= k[1] <= end)
        for fy, survey, margin, category, n in conn.execute(
                "SELECT financial_year, survey, margin, category, respondents FROM marts.weighting_summary "
                "WHERE respondents IS NOT NULL").fetchall():
            base[_weighting_key(fy, survey, margin, category)] = n
        base.update(_truth_of_suppressed_weighting(conn))
    return Truth(base, value, months)


def _truth_of_suppressed_weighting(conn) -> dict[tuple, int]:
    """Interviews per weighting category where the summary hides them, recounted from the responses."""
    from vsat_assets.defs.annual.weighting import WeightingInput

    out = {}
    years = conn.execute("SELECT DISTINCT financial_year, year_start FROM marts.weighting_summary").fetchall()
    for fy, start in years:
        data = WeightingInput.read(conn, start, date(start.year + 1, 4, 1))
        counts = defaultdict(int)
        for _, _, da, _, stratum, age, ethnic in data.respondents:
            survey = "DOMESTIC_ABUSE" if da else "GENERAL"
            for margin, category in (("stratum", stratum), ("age_band", age), ("ethnic_group", ethnic)):
                counts[_weighting_key(fy, survey, margin, category)] += 1
            counts[_weighting_key(fy, survey, ALL, ALL)] += 1
        out.update(counts)
    return out


def _weighting_key(fy: str, survey: str, margin: str, category: str) -> tuple:
    if survey == "GENERAL" and margin == "stratum":
        strand, area = category.split("|")
        return ("N", fy, strand, area)
    if survey == "GENERAL" and margin == ALL:
        return ("N", fy, ALL, ALL)
    return ("W", fy, survey, margin, category)


# ------------------------------------------------------------------ facts the outputs publish
@dataclass
class Facts:
    base: dict[tuple, set] = field(default_factory=lambda: defaultdict(set))
    value: dict[tuple, set] = field(default_factory=lambda: defaultdict(set))
    funnel: dict[tuple, int] = field(default_factory=lambda: defaultdict(int))  # (source, fy, strand, area) -> completed
    targets: set[tuple] = field(default_factory=set)
    where: dict[tuple, set] = field(default_factory=lambda: defaultdict(set))
    microdata: list[str] = field(default_factory=list)
    small_counts: list[str] = field(default_factory=list)


def _keys(kind: str, row: dict) -> list[tuple[tuple, str, str | None]]:
    """(key, base column, value column) for each cell a row of a table of `kind` describes."""
    fy, q = row.get("financial_year"), row.get("question")
    if kind == "satisfaction_annual":
        return [(("A", fy, q, row["survey_strand"], row.get("area", ALL)), "respondents", "satisfied_pct")]
    if kind == "satisfaction_comparison":
        return [(("A", fy, q, row["survey_strand"], ALL), "force_respondents", "force_pct")]
    if kind == "satisfaction_gap":
        return [(("G", fy, q, "WHITE"), "white_respondents", "white_pct"),
                (("G", fy, q, "ETHNIC_MINORITY"), "ethnic_minority_respondents", "ethnic_minority_pct")]
    if kind == "satisfaction_da_monthly":
        return [(("DM", row["month"], q), "respondents", "satisfied_pct")]
    if kind == "satisfaction_da_quarterly":
        return [(("DQ", row["period_end_month"], q), "respondents", "satisfied_pct")]
    if kind == "satisfaction_rolling":
        return [(("R", row["period_end_month"], row.get("first_month")), "respondents", "satisfied_pct")]
    if kind == "weighting_summary":
        return [(_weighting_key(fy, row["survey"], row["margin"], row["category"]), "respondents", None)]
    return []


def gather(outputs: Outputs, threshold: int) -> Facts:
    facts = Facts()
    for source, (kind, rows) in outputs.tables.items():
        columns = set(rows[0]) if rows else set()
        if columns & MICRODATA_COLUMNS:
            facts.microdata.append(source)
        for row in rows:
            for column, v in row.items():
                if COUNT_COLUMNS.match(column) and isinstance(v, (int, float)) and 0 < v < threshold:
                    facts.small_counts.append(f"{source}: {column} = {v}")
            if kind == "survey_funnel" and row.get("completed") is not None:
                month = row["month_start"] if isinstance(row["month_start"], date) else date.fromisoformat(row["month_start"])
                facts.funnel[(source, _fy(month), row["survey_strand"], row["area"])] += int(row["completed"])
            for key, base_column, value_column in _keys(kind, row):
                if row.get("suppressed") and row.get(base_column) is None:  # the part the row hides
                    facts.targets.add(key)
                if row.get(base_column) is not None:
                    facts.base[key].add(int(row[base_column]))
                    facts.where[key].add(source)
                if value_column and row.get(value_column) is not None:
                    facts.value[key].add(float(row[value_column]))
                    facts.where[key].add(source)
    return facts


# ------------------------------------------------------------------ the attacks
def _relations(truth: Truth) -> tuple[list[list[tuple]], list[tuple[tuple, tuple]]]:
    """Sums ([total, part, ...]) and inequalities (small, large) between the counts."""
    sums, less = [], []
    cells = [k for k in truth.base if k[0] == "A"]
    by_question = defaultdict(list)
    for k in cells:
        by_question[k[1:3]].append(k)
    for (fy, q), keys in by_question.items():
        strands = {k[3] for k in keys} - {ALL}
        areas = {k[4] for k in keys} - {ALL}
        present = set(keys)
        for s in strands:
            sums.append([("A", fy, q, s, ALL)] + [("A", fy, q, s, a) for a in areas if ("A", fy, q, s, a) in present])
        for a in areas:
            sums.append([("A", fy, q, ALL, a)] + [("A", fy, q, s, a) for s in strands if ("A", fy, q, s, a) in present])
        sums.append([("A", fy, q, ALL, ALL)] + [("A", fy, q, s, ALL) for s in strands])
        sums.append([("A", fy, q, ALL, ALL)] + [("A", fy, q, ALL, a) for a in areas])
        for s in strands:
            for a in areas:
                if ("A", fy, q, s, a) in present:
                    less.append((("A", fy, q, s, a), ("N", fy, s, a)))
        # the gap's groups are part of the force total (the rest: not stated)
        groups = [("G", fy, q, g) for g in ("WHITE", "ETHNIC_MINORITY") if ("G", fy, q, g) in truth.base]
        sums.append([("A", fy, q, ALL, ALL)] + groups + [("GNS", fy, q)])
        for g in groups:
            less.append((g, ("W", fy, "GENERAL", "ethnic_group", g[3])))
    strata = defaultdict(list)
    for k in truth.base:
        if k[0] == "N" and k[2] != ALL:
            strata[k[1]].append(k)
    for fy, keys in strata.items():
        sums.append([("N", fy, ALL, ALL)] + keys)
    margins = defaultdict(list)
    for k in truth.base:
        if k[0] == "W":
            margins[k[1:4]].append(k)
    for (fy, survey, margin), keys in margins.items():
        if margin != ALL:
            total = ("N", fy, ALL, ALL) if survey == "GENERAL" else ("W", fy, survey, ALL, ALL)
            sums.append([total] + keys)
    # Rolling periods overlap: each is the sum of its months' force-wide whole-experience bases,
    # and a year's force total the sum of its months'.
    monthly = sorted(k for k in truth.base if k[0] == "RM")
    for k in truth.base:
        if k[0] == "R":
            sums.append([k] + [m for m in monthly if k[2] <= m[1] <= k[1]])
    for k in truth.base:
        if k[0] == "A" and k[2] == "whole_experience" and k[3] == ALL and k[4] == ALL:
            sums.append([k] + [m for m in monthly if _fy(date.fromisoformat(m[1] + "-01")) == k[1]])
    months = [m.strftime("%Y-%m") for m in truth.months]
    for q in QUESTIONS:
        for i, m in enumerate(months):
            window = [("DM", x, q) for x in months[max(0, i - 2):i + 1] if ("DM", x, q) in truth.base
                      and _months_apart(x, m) < 3]
            sums.append([("DQ", m, q)] + window)
    return sums, less


def _months_apart(a: str, b: str) -> int:
    ya, ma = map(int, a.split("-"))
    yb, mb = map(int, b.split("-"))
    return (yb - ya) * 12 + mb - ma


def _funnel_sums(facts: Facts) -> list[tuple[tuple, int]]:
    """Each output's funnel: its completed interviews over a year's months are the stratum's interviews."""
    return [(("N", fy, s, a), n) for (_, fy, s, a), n in facts.funnel.items()
            if s not in ("DOMESTIC_ABUSE", "NOT_SURVEYED")]


def _bounds(truth: Truth, facts: Facts, targets: list[tuple]) -> dict[tuple, tuple[float, float]]:
    """Minimum and maximum of each target's base over every set of counts the outputs allow."""
    import numpy as np
    from scipy.optimize import linprog

    sums, less = _relations(truth)
    # A rolling period is the sum of its months' force-wide whole-experience bases.
    keys = sorted({k for line in sums for k in line} | {k for pair in less for k in pair}
                  | set(facts.base) | set(targets), key=repr)
    index = {k: i for i, k in enumerate(keys)}
    eq_rows, eq_rhs = [], []
    for line in sums:
        row = np.zeros(len(keys))
        row[index[line[0]]] = -1
        for k in line[1:]:
            row[index[k]] += 1
        eq_rows.append(row)
        eq_rhs.append(0.0)
    for key, n in _funnel_sums(facts):
        if key in index:
            row = np.zeros(len(keys))
            row[index[key]] = 1
            eq_rows.append(row)
            eq_rhs.append(float(n))
    ub_rows = []
    for small, large in less:
        row = np.zeros(len(keys))
        row[index[small]], row[index[large]] = 1, -1
        ub_rows.append(row)
    bounds = [(0, None)] * len(keys)
    for key, values in facts.base.items():
        v = float(max(values))
        bounds[index[key]] = (v, v)
    out = {}
    for target in targets:
        c = np.zeros(len(keys))
        c[index[target]] = 1
        ends = []
        for sign in (1, -1):
            result = linprog(sign * c, A_eq=np.array(eq_rows), b_eq=eq_rhs,
                             A_ub=np.array(ub_rows) if ub_rows else None, b_ub=[0.0] * len(ub_rows) or None,
                             bounds=bounds, method="highs")
            if result.status == 3:  # unbounded: no upper limit on this count
                ends.append(float("inf") * sign)
                continue
            if result.status != 0:
                raise AssertionError(f"the published counts are inconsistent with the attack's model "
                                     f"({result.message}) at {target}")
            ends.append(sign * result.fun)
        out[target] = (ends[0], ends[1])
    return out


def _microdata_attack(outputs: Outputs, facts: Facts, truth: Truth) -> list[str]:
    found = []
    for source in facts.microdata:
        kind, rows = outputs.tables[source]
        if not rows or "survey_strand" not in rows[0]:
            found.append(f"{source}: respondent-level rows published ({len(rows)} rows)")
            continue
        totals = defaultdict(lambda: [0, 0.0, 0.0])
        for r in rows:
            if r.get("outcome") != "COMPLETE" or r.get("survey_strand") == "DOMESTIC_ABUSE":
                continue
            for q in QUESTIONS:
                code = r.get(q)
                if code is None or not 1 <= int(code) <= 7:
                    continue
                w = float(r.get("calibrated_weight") or r.get("design_weight") or 1.0)
                for s in (r["survey_strand"], ALL):
                    for a in (r["area"], ALL):
                        t = totals[("A", r["financial_year"], q, s, a)]
                        t[0] += 1
                        t[1] += w
                        t[2] += w * (int(code) <= 3)
        recovered = [k for k in facts.targets if k in totals and totals[k][0] == truth.base.get(k)]
        if recovered:
            found.append(f"{source}: respondent-level rows give {len(recovered)} suppressed cells' bases and "
                         f"values by a group by (e.g. {recovered[0][1:]})")
        elif rows:
            found.append(f"{source}: respondent-level rows published ({len(rows)} rows)")
    return found


def _value_attack(facts: Facts, truth: Truth, known_base: dict[tuple, float]) -> list[str]:
    found = []
    sums, _ = _relations(truth)
    value = {k: max(v) for k, v in facts.value.items()}
    for line in sums:
        unknown = [k for k in line if k not in value]
        if len(unknown) != 1 or unknown[0] not in facts.targets or unknown[0] not in truth.value:
            continue
        if not all(k in known_base for k in line):
            continue
        target = unknown[0]
        total, parts = line[0], line[1:]
        if target == total:
            weight = sum(known_base[k] for k in parts)
            estimate = sum(known_base[k] * value[k] for k in parts) / weight if weight else None
        else:
            rest = sum(known_base[k] * value[k] for k in parts if k != target)
            estimate = (known_base[total] * value[total] - rest) / known_base[target] if known_base[target] else None
        if estimate is not None and abs(estimate - truth.value[target]) <= VALUE_TOLERANCE:
            found.append(f"{_name(target)}: value {truth.value[target]:.1f} recovered by differencing to "
                         f"{estimate:.1f}")
    return found


def _name(key: tuple) -> str:
    return " ".join(str(k) for k in key)


def attack(data_dir: Path, threshold: int = 10) -> list[str]:
    """Every disclosure found in `data_dir`'s published outputs (empty: none)."""
    truth = read_truth(data_dir / "vsat.duckdb")
    outputs = read_outputs(data_dir, truth)
    facts = gather(outputs, threshold)
    found = [f"count under {threshold} published: {s}" for s in sorted(set(facts.small_counts))]
    found += _microdata_attack(outputs, facts, truth)
    targets = sorted((k for k in facts.targets if k in truth.base), key=repr)
    for key in targets:
        if key in facts.base:
            found.append(f"{_name(key)}: suppressed, yet its base is published in {sorted(facts.where[key])}")
        if key in facts.value and key in truth.value and \
                min(abs(v - truth.value[key]) for v in facts.value[key]) <= VALUE_TOLERANCE:
            found.append(f"{_name(key)}: suppressed, yet its value is published in {sorted(facts.where[key])}")
    hidden = [k for k in targets if k not in facts.base]
    bounds = _bounds(truth, facts, hidden)
    known_base = {k: float(max(v)) for k, v in facts.base.items()}
    for key, (low, high) in bounds.items():
        if high - low < 0.5:
            known_base[key] = low
            # Interview counts (N, W) are hidden to protect counts under the threshold: pinning one
            # at a count some cell already publishes, or at 0, gives nothing away.
            if key[0] in ("N", "W") and not 0 < truth.base[key] < threshold:
                continue
            if abs(low - truth.base[key]) < 0.5:
                found.append(f"{_name(key)}: base {truth.base[key]} recovered exactly from the published counts")
    found += _value_attack(facts, truth, known_base)
    return found


def summary(data_dir: Path) -> dict:
    """What the attack saw: sources read, targets, and findings (for a note or a failure message)."""
    outputs = read_outputs(data_dir, read_truth(data_dir / "vsat.duckdb"))
    facts = gather(outputs, 10)
    return {"sources": sorted(outputs.tables), "targets": len(facts.targets), "findings": attack(data_dir)}
