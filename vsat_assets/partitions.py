"""Partitions shared by every stage: report months and financial years."""

from datetime import date

from dagster import MonthlyPartitionsDefinition, TimeWindowPartitionsDefinition

from vsat_assets.sql_runner.windows import months_in, next_month  # noqa: F401 (month arithmetic, shared)

FIRST_MONTH = "2019-04-01"
# Schedules run on local (UK) time.
TIMEZONE = "Europe/London"

monthly_partitions = MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=0)

# April to March, keyed '2022/23' style in the UI through fmt on the start date.
financial_year_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 4 *",
    start="2019-04-01",
    fmt="%Y-%m-%d",
)


def financial_year_of(year_start: date) -> str:
    """'2025/26' for the financial year starting on `year_start` (April to March)."""
    return f"{year_start.year}/{(year_start.year + 1) % 100:02d}"
