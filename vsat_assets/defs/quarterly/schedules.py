"""When the quarterly pack builds itself: the quarter whose last month's returns are due.

A month's hand-off is sent on the 1st of the next month and its returns are due 14 weeks later
(VSAT_RETURNS_DUE_WEEKS, vsat_assets/alerts/overdue.py), about the 8th of the fourth month after
the quarter. The schedule runs at 07:00 on the 15th of January, April, July and October (a week's
slack) and builds the quarter that ended four months before: on 15 October, April to June.
"""

from datetime import date, datetime

from dagster import AssetSelection, RunRequest, ScheduleEvaluationContext, define_asset_job, schedule

from vsat_assets.partitions import TIMEZONE

PACK_DAY = 15  # of the month the pack runs in
MONTHS_AFTER = 4  # from the quarter's last month to the month the pack runs in

pcc_quarterly_pack_job = define_asset_job(
    "pcc_quarterly_pack_job", selection=AssetSelection.assets("pcc_quarterly_pack"),
    description="The Police and Crime Commissioner's quarterly pack (HTML, ODS, XLSX) of one quarter.",
)


def quarter_just_reported_key(when: datetime | date) -> str:
    """The latest quarter whose last month is MONTHS_AFTER months before the PACK_DAY on or before
    `when`: on 15 October 2025 (and until 14 January 2026) '2025-04-01', April to June 2025."""
    month = when.year * 12 + when.month - 1 - (when.day < PACK_DAY)
    last = month - MONTHS_AFTER
    last -= (last % 12 - 2) % 3  # back to a quarter's last month: March, June, September or December
    first = last - 2
    return f"{first // 12:04d}-{first % 12 + 1:02d}-01"


@schedule(job=pcc_quarterly_pack_job, cron_schedule=f"0 7 {PACK_DAY} 1,4,7,10 *", execution_timezone=TIMEZONE,
          description="07:00 on the 15th of January, April, July and October: the PCC pack of the quarter "
          "that ended four months before (its last month's returns are due about the 8th).")
def pcc_quarterly_pack_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    key = quarter_just_reported_key(context.scheduled_execution_time)
    return RunRequest(run_key=key, partition_key=key)
