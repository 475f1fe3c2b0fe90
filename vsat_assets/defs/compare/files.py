"""Published comparator figures (docs/comparisons.md, "The comparator file"): layout, reading, validation.

Every `*.csv` of the comparator folder is checked before anything is stored, so one bad file
leaves the stored figures as they were. A fault raises `ComparatorFileError` naming the file,
the line of the file (and data row) and the column. These files hold published aggregate
figures only, so a faulty value may be quoted.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from vsat_assets.csv_files import FileContentError, check_columns, check_no_control_characters, read_csv_as_strings
from vsat_assets.vocabulary import ALL, QUESTIONS, SURVEY_STRANDS

FORCE, MSG, ENGLAND_AND_WALES = "FORCE", "MSG", "E&W"
COMPARATOR_TYPES = (FORCE, MSG, ENGLAND_AND_WALES)
COLUMNS = ("comparator", "force", "period", "question", "survey_strand", "estimate", "interval", "base",
           "force_share", "source")
KEY = ("comparator", "force", "period", "question", "survey_strand")
TABLE = "staging.comparator_figures"
TABLE_COLUMNS = (
    ("comparator", "VARCHAR", "FORCE (a force's own published figure), MSG (its most similar group) or E&W."),
    ("force", "VARCHAR", "Force code: whose figure (FORCE), or whose group / whose share force_share is (MSG, E&W)."),
    ("period", "VARCHAR", "Financial year, '2013/14'."),
    ("year_start", "DATE", "First day of the financial year."),
    ("question", "VARCHAR", "The question."),
    ("survey_strand", "VARCHAR", "Survey strand; 'ALL' = the general survey."),
    ("estimate", "DOUBLE", "% satisfied as published."),
    ("half_width", "DOUBLE", "Half-width of the published 95% interval, points (the '± 1.8')."),
    ("base", "BIGINT", "Respondents, when published."),
    ("force_share", "DOUBLE", "The force's share of the comparator's weighted population (0: not included)."),
    ("source", "VARCHAR", "Where the figure was published."),
    ("source_file", "VARCHAR", "The comparator file it came from."),
    ("line", "BIGINT", "Line of the file (the header is line 1)."),
)
_FORCE_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,9}")
_PERIOD = re.compile(r"(\d{4})/(\d{2})")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_SHOWN = 30  # characters of a faulty value quoted in a message


class ComparatorFileError(FileContentError):
    """A comparator file rejected whole; `line` is the line of the file (header: line 1)."""

    def __init__(self, file: str, problem: str, row: int | None = None, column: str | None = None,
                 line: int | None = None):
        if line is None and row is not None:
            line = row + 1
        super().__init__(file, problem, row, column, line)

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"line {self.line} (data row {self.row})")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.problem}"


@dataclass(frozen=True)
class Figure:
    comparator: str
    force: str
    period: str
    question: str
    survey_strand: str
    estimate: float
    half_width: float
    base: int | None
    force_share: float | None
    source: str | None
    source_file: str
    row: int
    line: int

    @property
    def year_start(self):
        from datetime import date
        return date(int(self.period[:4]), 4, 1)

    def key(self) -> tuple[str, ...]:
        return (self.comparator, self.force, self.period, self.question, self.survey_strand)

    def as_row(self) -> tuple:
        return (self.comparator, self.force, self.period, self.year_start, self.question, self.survey_strand,
                self.estimate, self.half_width, self.base, self.force_share, self.source, self.source_file, self.line)


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _number(value: str, low: float, high: float, what: str, fault) -> float:
    if not _NUMBER.fullmatch(value):
        fault(f"{_quoted(value)} is not a number (digits and a decimal point, e.g. 85.0)")
    number = float(value)
    if not (low <= number <= high) or math.isnan(number):
        fault(f"{value} is outside {what}")
    return number


def _row_figure(file: str, row: int, line: int, cells: dict[str, str]) -> Figure:
    """One data row, checked column by column in layout order (the first fault is reported)."""
    def fault_in(column: str):
        def fault(problem: str):
            raise ComparatorFileError(file, problem, row=row, column=column, line=line)
        return fault

    def required(column: str) -> str:
        if not cells[column]:
            fault_in(column)("is empty but the column is required")
        return cells[column]

    comparator = required("comparator")
    if comparator not in COMPARATOR_TYPES:
        fault_in("comparator")(f"{_quoted(comparator)} is not a comparator (expected {', '.join(COMPARATOR_TYPES)})")
    force = required("force")
    if not _FORCE_CODE.fullmatch(force):
        fault_in("force")(f"{_quoted(force)} is not a force code (capitals, digits or _, e.g. DUR)")
    period = required("period")
    match = _PERIOD.fullmatch(period)
    if not match or (int(match[1]) + 1) % 100 != int(match[2]):
        fault_in("period")(f"{_quoted(period)} is not a financial year (expected e.g. 2013/14)")
    question = required("question")
    if question not in QUESTIONS:
        fault_in("question")(f"{_quoted(question)} is not a question ({', '.join(QUESTIONS)})")
    strand = required("survey_strand")
    if strand not in (ALL, *SURVEY_STRANDS):
        fault_in("survey_strand")(f"{_quoted(strand)} is not a survey strand (ALL or one of {', '.join(SURVEY_STRANDS)})")
    estimate = _number(required("estimate"), 0.0, 100.0, "0 to 100 (a percentage)", fault_in("estimate"))
    half = _number(required("interval"), 0.0, 50.0, "0 to 50 (the ± half-width in points)", fault_in("interval"))
    if half == 0:
        fault_in("interval")("is 0: a published survey figure has an interval (give the ± half-width)")
    base = None
    if cells["base"]:
        if not cells["base"].isdigit() or int(cells["base"]) == 0:
            fault_in("base")(f"{_quoted(cells['base'])} is not a number of respondents (a whole number, 1 or more)")
        base = int(cells["base"])
    elif comparator == FORCE:
        fault_in("base")("is empty: a force's figure needs its respondents (disclosure control and the low-base rule)")
    share = None
    if comparator == FORCE:
        if cells["force_share"]:
            fault_in("force_share")("must be empty on a FORCE row (it is the force's share of an MSG or E&W figure)")
    else:
        share = _number(required("force_share"), 0.0, 1.0, "0 to 1 (a share of the population)",
                        fault_in("force_share"))
        if share >= 1.0:
            fault_in("force_share")("is 1: a comparator that is the force itself compares nothing")
    return Figure(comparator, force, period, question, strand, estimate, half, base, share,
                  cells["source"] or None, file, row, line)


def _record_lines(path: Path) -> list[int]:
    """The line each data record starts on (a quoted cell may span lines)."""
    starts = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        previous_end = reader.line_num
        for _ in reader:
            starts.append(previous_end + 1)
            previous_end = reader.line_num
    return starts


def read_comparator_file(path: Path) -> list[Figure]:
    """One file, checked whole: structure, then every row; duplicates within it."""
    frame = read_csv_as_strings(path, ComparatorFileError)
    check_columns(path.name, frame.columns, COLUMNS, ComparatorFileError)
    lines = _record_lines(path)
    try:
        check_no_control_characters(path.name, frame.select(COLUMNS), error=ComparatorFileError)
    except ComparatorFileError as e:
        raise ComparatorFileError(e.file, e.problem, e.row, e.column, lines[e.row - 1]) from None
    if frame.is_empty():
        raise ComparatorFileError(path.name, "the file has a header but no rows")
    figures = []
    for row, cells in enumerate(frame.select(COLUMNS).iter_rows(named=True), start=1):
        stripped = {c: (v or "").strip() for c, v in cells.items()}
        figures.append(_row_figure(path.name, row, lines[row - 1], stripped))
    return figures


def read_comparator_folder(folder: Path) -> list[Figure]:
    """Every `*.csv` in `folder` (none if it does not exist), checked whole; a key repeated
    within or across files is an error at its second occurrence."""
    files = sorted(p for p in Path(folder).glob("*.csv") if p.is_file()) if Path(folder).is_dir() else []
    figures, seen = [], {}
    for path in files:
        for figure in read_comparator_file(path):
            first = seen.get(figure.key())
            if first:
                where = f"line {first.line}" if first.source_file == figure.source_file \
                    else f"{first.source_file} line {first.line}"
                raise ComparatorFileError(figure.source_file, "comparator, force, period, question and survey_strand "
                                          f"repeat those of {where}", row=figure.row, column="comparator",
                                          line=figure.line)
            seen[figure.key()] = figure
            figures.append(figure)
    return figures


def store(conn, figures: list[Figure]) -> int:
    """Replace the stored figures with `figures`, in one transaction (rows stored)."""
    from vsat_assets.warehouse import ensure_schemas, transaction

    ensure_schemas(conn)
    ddl = ", ".join(f"{name} {kind}" for name, kind, _ in TABLE_COLUMNS)
    with transaction(conn):
        conn.execute(f"CREATE OR REPLACE TABLE {TABLE} ({ddl})")
        if figures:
            conn.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * len(TABLE_COLUMNS))})",
                             [f.as_row() for f in figures])
    return len(figures)
