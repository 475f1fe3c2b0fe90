"""Reading delimited files from outside the force (exports, contractor returns) safely.

A file is accepted whole or rejected with a `FileContentError` naming the file,
the 1-based data row (header excluded) and the column.
"""

import codecs
import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: not at code-location load
    import polars as pl

_UTF8_CHUNK = 1 << 20


class FileContentError(ValueError):
    """A rejected input file.

    ``row`` is the 1-based data row (header excluded), ``None`` when the problem
    is with the file as a whole; ``column`` is ``None`` when no column applies; ``line``, when
    known, is the row's first line in the file (header: line 1), which differs from ``row + 1``
    after a quoted cell spanning lines.
    """

    def __init__(self, file: str, problem: str, row: int | None = None, column: str | None = None,
                 line: int | None = None):
        self.file = file
        self.row = row
        self.column = column
        self.problem = problem
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.problem}"

    def __reduce__(self):  # keep it picklable (Dagster may ship it between processes)
        return (type(self), (self.file, self.problem, self.row, self.column, self.line))


def read_csv_as_strings(path: Path, error: type[FileContentError] = FileContentError) -> "pl.DataFrame":
    """All cells as text, so row numbers are exact and nothing is coerced."""
    import polars as pl
    if path.stat().st_size == 0:
        raise error(path.name, "file is empty")
    check_utf8(path, error)
    check_row_lengths(path, error)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise error(path.name, "file is empty") from None
    except pl.exceptions.ComputeError:
        # Polars' message says neither the row nor anything safe to repeat, so give the usual causes.
        problem = "not a readable CSV (a row with more fields than the header, or unbalanced quotes?)"
        raise error(path.name, problem) from None
    return frame


def check_row_lengths(path: Path, error: type[FileContentError] = FileContentError) -> None:
    """Every row has as many fields as the header: a short row (a truncated last line, a blank
    line) or a long one (an unquoted comma) means the columns cannot be trusted, so the file is
    rejected rather than padded with blanks."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        records = csv.reader(f)
        header = next(records, None)
        if header is None:
            return
        first_line = records.line_num + 1  # the line the next record starts on
        for row, record in enumerate(records, start=1):
            if len(record) != len(header):
                shape = "is blank" if not record else f"has {len(record)} fields, the header {len(header)}"
                raise error(path.name, f"the row {shape} (truncated, or a comma not quoted?)", row=row,
                            line=first_line)
            first_line = records.line_num + 1


# C0 control characters other than tab: a NUL or a line break inside a cell is never data.
CONTROL_CHARACTERS = r"[\x00-\x08\x0a-\x1f]"


def check_no_control_characters(file: str, frame: "pl.DataFrame", row_column: str | None = None,
                                error: type[FileContentError] = FileContentError) -> None:
    """Reject the first cell (in file order) holding a control character; text columns only.
    `row_column` holds the 1-based data row; without it the frame's own order is used."""
    import polars as pl
    text = [c for c, t in frame.schema.items() if t == pl.String and c != row_column]
    if not text or frame.is_empty():
        return
    hits = frame.select(
        pl.int_range(pl.len()).filter(pl.col(c).str.contains(CONTROL_CHARACTERS)).first().alias(c) for c in text
    ).row(0, named=True)
    found = [(index, text.index(c), c) for c, index in hits.items() if index is not None]
    if found:
        index, _, column = min(found)
        row = frame[row_column][index] if row_column else index + 1
        raise error(file, "the cell holds a control character (NUL, line break or another C0 code)",
                    row=row, column=column)


_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def _names(columns: list[str]) -> str:
    """Column names as given, except any not shaped like one (it could be a value from a data row)."""
    shown = [c for c in columns if _COLUMN_NAME.fullmatch(c)]
    hidden = len(columns) - len(shown)
    return ", ".join(shown + ([f"{hidden} not shown"] if hidden else []))


def check_utf8(path: Path, error: type[FileContentError] = FileContentError) -> None:
    """Stream the bytes through an incremental decoder; on bad bytes, report the line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines_before = 0
    with path.open("rb") as f:
        while chunk := f.read(_UTF8_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                # e.object is the decoder's pending bytes (never a newline) followed by this chunk.
                line = newlines_before + e.object[: e.start].count(b"\n") + 1
                row = line - 1 if line > 1 else None
                problem = f"bytes on line {line} are not valid UTF-8 (export the file as UTF-8)"
                raise error(path.name, problem, row=row, line=line if row else None) from None
            newlines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            line = newlines_before + 1
            raise error(path.name, f"file ends in an incomplete UTF-8 sequence on line {line}",
                        row=line - 1 if line > 1 else None, line=line if line > 1 else None) from None


def check_columns(file: str, columns: list[str], expected, error: type[FileContentError] = FileContentError) -> None:
    """Exactly the expected columns, each once (any order). A first line with none of them is
    most likely a data row: its values are never repeated in the message."""
    if not set(expected) & {c.split("_duplicated_")[0] for c in columns}:
        raise error(file, f"the first line names none of the {len(expected)} expected columns: "
                          "is the header row missing, or the delimiter not a comma? (its values are not shown)")
    repeated = sorted({c.split("_duplicated_")[0] for c in columns if "_duplicated_" in c})
    if repeated:
        raise error(file, f"column(s) appear more than once: {_names(repeated)}")
    missing = [c for c in expected if c not in columns]
    if missing:
        raise error(file, f"missing column(s): {', '.join(missing)}")
    extra = [c for c in columns if c not in expected]
    if extra:
        raise error(file, f"unexpected column(s): {_names(extra)}")
