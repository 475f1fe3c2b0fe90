"""Reading delimited files from outside the force (exports, contractor returns) safely.

A file is accepted whole or rejected with a `FileContentError` naming the file,
the 1-based data row (header excluded) and the column.
"""

import codecs
from pathlib import Path

import polars as pl

_UTF8_CHUNK = 1 << 20


class FileContentError(ValueError):
    """A rejected input file.

    ``row`` is the 1-based data row (header excluded), ``None`` when the problem
    is with the file as a whole; ``column`` is ``None`` when no column applies.
    """

    def __init__(self, file: str, problem: str, row: int | None = None, column: str | None = None):
        self.file = file
        self.row = row
        self.column = column
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.problem}"

    def __reduce__(self):  # keep it picklable (Dagster may ship it between processes)
        return (type(self), (self.file, self.problem, self.row, self.column))


def read_csv_as_strings(path: Path, error: type[FileContentError] = FileContentError) -> pl.DataFrame:
    """All cells as text, so row numbers are exact and nothing is coerced."""
    if path.stat().st_size == 0:
        raise error(path.name, "file is empty")
    check_utf8(path, error)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise error(path.name, "file is empty") from None
    except pl.exceptions.ComputeError:
        # Polars' message says neither the row nor anything safe to repeat, so give the usual causes.
        problem = "not a readable CSV (a row with more fields than the header, or unbalanced quotes?)"
        raise error(path.name, problem) from None
    return frame


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
                raise error(path.name, problem, row=row) from None
            newlines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            line = newlines_before + 1
            raise error(path.name, f"file ends in an incomplete UTF-8 sequence on line {line}",
                                  row=line - 1 if line > 1 else None) from None


def check_columns(file: str, columns: list[str], expected, error: type[FileContentError] = FileContentError) -> None:
    """Exactly the expected columns, each once (any order)."""
    repeated = sorted({c.split("_duplicated_")[0] for c in columns if "_duplicated_" in c})
    if repeated:
        raise error(file, f"column(s) appear more than once: {', '.join(repeated)}")
    missing = [c for c in expected if c not in columns]
    if missing:
        raise error(file, f"missing column(s): {', '.join(missing)}")
    extra = [c for c in columns if c not in expected]
    if extra:
        raise error(file, f"unexpected column(s): {', '.join(extra)}")
