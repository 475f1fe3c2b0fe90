"""Read and validate the records-system exports dropped as CSV or Parquet files.

Each month has one or more files named ``reports_YYYY-MM*.csv`` or
``reports_YYYY-MM*.parquet``. A file is either accepted whole, as a typed frame in
the ``REPORT_COLUMNS`` layout, or rejected with an ``ExportFileError`` naming the
file, the line (CSV, header: line 1) or 1-based data row (Parquet) and the column. Messages never echo personal data
(crime references, person ids, names, phones, dates of birth).
"""

import re
from datetime import date
from pathlib import Path

import polars as pl

from vsat_assets.csv_files import (
    FileContentError,
    check_columns,
    check_no_control_characters,
    read_csv_as_strings,
)
from vsat_assets.defs.raw_reports.schema import REPORT_COLUMNS, REQUIRED_COLUMNS
from vsat_assets.vocabulary import POLICING_AREAS, RECORD_TYPES

SOURCE_FILE = "source_file"
# A report's victim: crime references and person ids are only unique within a force.
DUPLICATE_KEY = ("force_code", "crime_reference", "victim_person_id")
# Values in these columns are never quoted in an error message.
PERSONAL_COLUMNS = frozenset({
    "crime_reference", "victim_person_id", "victim_title", "victim_forename",
    "victim_surname", "victim_date_of_birth", "victim_phone",
})
BOOL_WORDS = {
    "true": True, "t": True, "y": True, "yes": True, "1": True,
    "false": False, "f": False, "n": False, "no": False, "0": False,
}
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
DATE_PROBLEM = "is not a date (expected YYYY-MM-DD)"
BOOL_PROBLEM = "is not a boolean (expected true/false, t/f, Y/N, yes/no or 1/0)"
TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Null)
_PARSED = "__parsed"
_ROW = "__row"


class ExportFileError(FileContentError):
    """A rejected export file. In a CSV the place is the file's line (header: line 1), as an
    editor shows it; in a Parquet file, the 1-based data row. A CSV row's line is its data row
    + 1: a cell spanning lines is rejected (control character) before any later row is checked,
    and the row-length check counts the lines itself."""

    def __init__(self, file: str, problem: str, row: int | None = None, column: str | None = None,
                 line: int | None = None):
        if line is None and row is not None and _is_csv(file):
            line = row + 1
        super().__init__(file, problem, row, column, line)

    def __str__(self) -> str:
        if self.line is not None:
            where = f"{self.file} line {self.line}"
        elif self.row is not None:
            where = f"{self.file} row {self.row}"
        else:
            where = self.file
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.problem}"


def _is_csv(file: str) -> bool:
    return str(file).lower().endswith(".csv")


def _place(file: str, row: int) -> str:
    """'line N' in a CSV, 'row N' in a Parquet file."""
    return f"line {row + 1}" if _is_csv(file) else f"row {row}"


def export_files_for_month(drop_dir: Path, month_start: date) -> list[Path]:
    prefix = f"reports_{month_start:%Y-%m}"
    files = [
        p for p in Path(drop_dir).iterdir()
        if p.is_file() and p.name.startswith(prefix) and p.suffix in (".csv", ".parquet")
    ]
    return sorted(files)


def read_month_exports(drop_dir: Path, month_start: date, areas: tuple[str, ...] = POLICING_AREAS) -> pl.DataFrame:
    """All files of the month, validated and concatenated (empty frame if there are none)."""
    frames = [read_export_file(p, month_start, areas) for p in export_files_for_month(drop_dir, month_start)]
    if not frames:
        return pl.DataFrame(schema={**REPORT_COLUMNS, SOURCE_FILE: pl.String})
    month = pl.concat(frames, how="vertical")
    _check_no_duplicates(month.with_columns((pl.int_range(pl.len()).over(SOURCE_FILE) + 1).alias(_ROW)))
    return month


def read_export_file(path: Path, month_start: date, areas: tuple[str, ...] = POLICING_AREAS) -> pl.DataFrame:
    """One file, validated and typed, in REPORT_COLUMNS order plus ``source_file``; `areas` are
    the force's policing areas (the survey settings)."""
    path = Path(path)
    if path.suffix == ".csv":
        raw = read_csv_as_strings(path, ExportFileError)
    elif path.suffix == ".parquet":
        raw = _read_parquet(path)
    else:
        raise ExportFileError(path.name, f"unsupported file type {path.suffix!r} (expected .csv or .parquet)")
    if raw.height == 0:
        raise ExportFileError(path.name, "file has no data rows")
    check_columns(path.name, raw.columns, REPORT_COLUMNS, ExportFileError)
    check_no_control_characters(path.name, raw.select(list(REPORT_COLUMNS)), error=ExportFileError)

    typed = _to_report_types(path.name, _normalise(path.name, raw))
    typed = typed.with_columns(
        (pl.int_range(pl.len()) + 1).alias(_ROW), pl.lit(path.name).alias(SOURCE_FILE)
    )
    _check_values(typed, month_start, tuple(areas))
    _check_no_duplicates(typed)
    return typed.select(*REPORT_COLUMNS, SOURCE_FILE)


# --- reading -----------------------------------------------------------------

def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as e:  # polars raises several types for corrupt or non-parquet files
        raise ExportFileError(path.name, f"not a readable Parquet file: {type(e).__name__}") from None
    return frame


# --- structure and types -------------------------------------------------------

def _normalise(file: str, raw: pl.DataFrame) -> pl.DataFrame:
    """Each column either already of its REPORT_COLUMNS type or as trimmed text, empty -> null."""
    columns = []
    for name, target in REPORT_COLUMNS.items():
        dtype = raw.schema[name]
        if dtype == target and target != pl.String:
            columns.append(pl.col(name))
        elif dtype in TEXT_TYPES or (target == pl.Boolean and dtype.is_integer()):
            columns.append(pl.col(name).cast(pl.String).str.strip_chars().replace("", None))
        else:
            raise ExportFileError(file, f"column has type {dtype}, expected {target} or text", column=name)
    return raw.select(columns)


def _to_report_types(file: str, text: pl.DataFrame) -> pl.DataFrame:
    """Parse the date and boolean columns still held as text, raising on the first unparseable value.

    Failures are compared across columns and the earliest row is reported.
    """
    parsers = {
        name: (_parse_date(pl.col(name)) if target == pl.Date else _parse_bool(pl.col(name)))
        for name, target in REPORT_COLUMNS.items()
        if target != pl.String and text.schema[name] == pl.String
    }
    if not parsers:
        return text
    parsed = text.with_columns(expr.alias(name + _PARSED) for name, expr in parsers.items())
    rows = parsed.select(
        _first_row(pl.col(name).is_not_null() & pl.col(name + _PARSED).is_null()).alias(name)
        for name in parsers
    ).row(0, named=True)
    hits = [(row, name) for name, row in rows.items() if row is not None]
    if hits:
        index, column = min(hits, key=lambda hit: (hit[0], list(REPORT_COLUMNS).index(hit[1])))
        problem = DATE_PROBLEM if REPORT_COLUMNS[column] == pl.Date else BOOL_PROBLEM
        value = text[column][index]
        raise ExportFileError(file, f"{_show(column, value)} {problem}", row=index + 1, column=column)
    return parsed.select(pl.col(name + _PARSED).alias(name) if name in parsers else pl.col(name)
                         for name in REPORT_COLUMNS)


def _parse_date(text: pl.Expr) -> pl.Expr:
    # chrono's %m/%d also accept single digits, so the shape is checked separately.
    return pl.when(text.str.contains(ISO_DATE)).then(text.str.to_date("%Y-%m-%d", strict=False))


def _parse_bool(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().replace_strict(BOOL_WORDS, default=None, return_dtype=pl.Boolean)


def _first_row(mask: pl.Expr) -> pl.Expr:
    """0-based index of the first row where mask is true, or null."""
    return pl.int_range(pl.len()).filter(mask).first()


_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,29}")


def _show(column: str, value: object) -> str:
    """Quote a value only if it is shaped like a code: in a file whose columns have slipped,
    a date, a number or a word could be someone's date of birth, phone or name."""
    if column not in PERSONAL_COLUMNS and _CODE.fullmatch(str(value)):
        return repr(str(value))
    return "the value"


# --- content -----------------------------------------------------------------

def _offence_codes() -> list[str]:
    from vsat_assets.defs.raw_reports.generator import load_offence_catalogue

    return load_offence_catalogue()["offence_code"].to_list()


def _check_values(typed: pl.DataFrame, month_start: date, areas: tuple[str, ...]) -> None:
    """Required fields, report month, record type, offence code and policing area; the earliest
    failing row is reported."""
    month_from = month_start.replace(day=1)
    month_to = date(month_from.year + month_from.month // 12, month_from.month % 12 + 1, 1)
    checks: list[tuple[str, pl.Expr, str]] = [
        (c, pl.col(c).is_null(), "is empty but the column is required") for c in REQUIRED_COLUMNS
    ]
    checks.append((
        "report_date",
        (pl.col("report_date") < month_from) | (pl.col("report_date") >= month_to),
        f"is outside the file's month {month_from:%Y-%m}",
    ))
    checks.append((
        "record_type",
        pl.col("record_type").is_not_null() & ~pl.col("record_type").is_in(RECORD_TYPES),
        f"is not a record type (expected {' or '.join(RECORD_TYPES)})",
    ))
    checks.append((
        "offence_code",
        pl.col("offence_code").is_not_null() & ~pl.col("offence_code").is_in(_offence_codes()),
        "is not an offence code of the catalogue (vsat_assets/defs/raw_reports/offences.csv)",
    ))
    checks.append((
        "policing_area",
        pl.col("policing_area").is_not_null() & ~pl.col("policing_area").is_in(list(areas)),
        f"is not one of the force's policing areas ({', '.join(areas)})",
    ))
    found = typed.select(
        *(pl.col(_ROW).filter(mask).first().alias(f"row{i}") for i, (_, mask, _) in enumerate(checks))
    ).row(0)
    hits = [(r, i) for i, r in enumerate(found) if r is not None]
    if not hits:
        return
    row, i = min(hits)
    column, _, problem = checks[i]
    value = typed.filter(pl.col(_ROW) == row)[column][0]
    shown = "the value" if value is None else _show(column, value)
    raise ExportFileError(typed[SOURCE_FILE][0], f"{shown} {problem}", row=row, column=column)


def _check_no_duplicates(frame: pl.DataFrame) -> None:
    """Each (crime_reference, victim_person_id) once; reports the second occurrence.

    ``frame`` needs the key columns, ``source_file`` and the 1-based ``_ROW`` column.
    """
    keys = list(DUPLICATE_KEY)
    repeats = frame.filter(~pl.struct(keys).is_first_distinct())
    if repeats.height == 0:
        return
    second = repeats.row(0, named=True)
    first = frame.filter(*(pl.col(k) == second[k] for k in keys)).row(0, named=True)
    where = _place(first[SOURCE_FILE], first[_ROW])
    if first[SOURCE_FILE] != second[SOURCE_FILE]:
        where = f"{first[SOURCE_FILE]} {where}"
    problem = f"force_code, crime_reference and victim_person_id repeat those of {where}"
    raise ExportFileError(second[SOURCE_FILE], problem, row=second[_ROW], column="crime_reference")
