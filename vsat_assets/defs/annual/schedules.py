"""When the annual run starts by itself: the financial year just ended."""

from datetime import date, datetime

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from vsat_assets.defs.annual.jobs import annual_satisfaction_job
from vsat_assets.partitions import TIMEZONE


def financial_year_just_ended_key(when: datetime | date) -> str:
    """The financial year (April-March) that ended before `when`: on 5 April 2026, 2025/26."""
    start_year = when.year - 1 if when.month >= 4 else when.year - 2
    return f"{start_year:04d}-04-01"


@schedule(job=annual_satisfaction_job, cron_schedule="0 7 5 4 *", execution_timezone=TIMEZONE,
          description="07:00 on 5 April: the financial year just ended.")
def annual_satisfaction_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    key = financial_year_just_ended_key(context.scheduled_execution_time)
    return RunRequest(run_key=key, partition_key=key)
