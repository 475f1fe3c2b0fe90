"""When the monthly run and the retention purge start by themselves; each works out its own partition key."""

from datetime import date, datetime

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from vsat_assets.defs.handoff.assets import retention_run_config
from vsat_assets.defs.handoff.jobs import monthly_survey_job, retention_job
from vsat_assets.partitions import TIMEZONE


def previous_month_key(when: datetime | date) -> str:
    """The report month that has just ended: run on 1 May, build April."""
    year, month = (when.year, when.month - 1) if when.month > 1 else (when.year - 1, 12)
    return f"{year:04d}-{month:02d}-01"


@schedule(job=monthly_survey_job, cron_schedule="0 6 1 * *", execution_timezone=TIMEZONE,
          description="06:00 on the 1st: last month's reports through to the hand-off, sent that day.")
def monthly_survey_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    key = previous_month_key(context.scheduled_execution_time)
    return RunRequest(run_key=key, partition_key=key)


@schedule(job=retention_job, cron_schedule="0 2 * * *", execution_timezone=TIMEZONE,
          description="02:00 daily: purge personal data past the retention period.")
def retention_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(run_key=day, run_config=retention_run_config(day))
