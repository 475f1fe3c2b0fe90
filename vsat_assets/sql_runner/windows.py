"""Month arithmetic for partition windows: [start, end) with end exclusive."""

from collections.abc import Iterator
from datetime import date


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def months_in(start: date, end: date) -> Iterator[date]:
    """First days of the months in [start, end)."""
    month = date(start.year, start.month, 1)
    while month < end:
        yield month
        month = next_month(month)
