"""Quarters of the financial year (April-June, July-September, October-December, January-March),
keyed by their first day like the other stages' partitions: '2025-04-01' is Q1 of 2025/26."""

from datetime import date

from dagster import TimeWindowPartitionsDefinition

from vsat_assets.partitions import financial_year_of

quarter_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start="2019-04-01", fmt="%Y-%m-%d", end_offset=0,
)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_start_of(key: str) -> date:
    """The first day of the quarter keyed `key`; a clear error for anything but a quarter's first day."""
    try:
        start = date.fromisoformat(key)
    except ValueError as error:
        raise ValueError(f"quarter key {key!r} is not a date YYYY-MM-DD") from error
    if start.day != 1 or start.month not in (1, 4, 7, 10):
        raise ValueError(f"quarter key {key!r} is not the first day of a quarter (1 January, April, July or October)")
    return start


def last_month(start: date) -> date:
    """The first day of the quarter's last month (June for April-June): its rolling periods' key."""
    return _add_months(start, 2)


def quarter_end(start: date) -> date:
    """The day after the quarter (exclusive end)."""
    return _add_months(start, 3)


def financial_year_of_quarter(start: date) -> str:
    return financial_year_of(date(start.year - (start.month < 4), 4, 1))


def quarter_number(start: date) -> int:
    """1 for April-June ... 4 for January-March."""
    return (start.month - 4) % 12 // 3 + 1


def quarter_label(start: date) -> str:
    """'Q1 2025/26 (April to June 2025)'."""
    end = last_month(start)
    return (f"Q{quarter_number(start)} {financial_year_of_quarter(start)} "
            f"({start:%B} to {end:%B %Y})")


def last_complete_year_start(start: date) -> date:
    """The financial year that ended by the quarter's end: 2024/25 for Q1-Q3 of 2025/26, 2025/26 for its Q4."""
    end = quarter_end(start)
    return date(end.year - (end.month < 4) - 1, 4, 1)


def quarter_key_of(month: date) -> str:
    """The key of the quarter holding `month`: '2026-01-01' for March 2026."""
    return date(month.year, (month.month - 1) // 3 * 3 + 1, 1).isoformat()
