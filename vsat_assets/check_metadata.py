"""What a failed check shows in the UI: the failing items themselves, not only how many.

Only aggregate, non-personal values belong here (months, strata, column names, counts,
expected against actual): never a name, phone number, date of birth or crime reference.
"""

from collections.abc import Iterable, Sequence

from dagster import MetadataValue

SHOWN = 20  # the first few are enough to act on; the count says how many there are


def failures(rows: Iterable[Sequence], columns: Sequence[str]) -> dict:
    """{'failures': the first SHOWN rows as {column: value}, 'failure_count': how many}, for a check's metadata."""
    rows = list(rows)
    shown = [{column: _plain(value) for column, value in zip(columns, row)} for row in rows[:SHOWN]]
    metadata = {"failure_count": len(rows), "failures": MetadataValue.json(shown)}
    if len(rows) > SHOWN:
        metadata["failures_not_shown"] = len(rows) - SHOWN
    return metadata


def _plain(value):
    """JSON-safe: dates and decimals as text, floats rounded for reading."""
    if isinstance(value, float):
        return round(value, 4)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
