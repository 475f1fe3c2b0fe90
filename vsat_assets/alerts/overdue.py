"""Overdue work as asset checks, run daily, and a sensor that mails each failed one.

- a month's hand-off not sent by its hand-off day (ops.sent_months, which the hand-off, `handoff sent`
  and the SFTP delivery fill);
- a sent month's returns not back VSAT_RETURNS_DUE_WEEKS weeks after it was sent (its rows in
  staging.survey_responses or ops.returns_quarantine);
- a financial year's tables not built by VSAT_ANNUAL_TABLES_DUE (Dagster's time-partition freshness check).

The first two read the warehouse, because a month is sent or answered outside Dagster's own records
(an operator's `handoff sent`, a file from the contractor). They are checks of two external assets
that stand for those records, so that no month's run or test runs them; the overdue job runs them.
"""

import json
import os
import warnings
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSelection,
    AssetsDefinition,
    AssetSpec,
    Config,
    DagsterEventType,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    SupersessionWarning,
    asset_check,
    build_time_partition_freshness_checks,
    define_asset_job,
    schedule,
    sensor,
)
from pydantic import Field

from vsat_assets.alerts import mail
from vsat_assets.partitions import TIMEZONE, months_in, next_month
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import WarehouseResource, table_exists

HANDOFF_DELIVERIES = "handoff_deliveries"
CONTRACTOR_RETURNS = "contractor_returns"
HANDOFFS_SENT_ON_TIME = "handoffs_sent_by_handoff_day"
RETURNS_BACK_ON_TIME = "returns_back_in_time"
ANNUAL_TABLES = ("satisfaction_annual", "satisfaction_gap", "hmicfrs_export", "annual_report")
DEFAULT_RETURNS_DUE_WEEKS = 14  # contact windows close 12 weeks after the hand-off, plus two for the file
DEFAULT_ANNUAL_TABLES_DUE = "04-30"  # the year ending 31 March: its tables by 30 April


def returns_due_weeks() -> int:
    text = os.environ.get("VSAT_RETURNS_DUE_WEEKS", "").strip()
    if not text:
        return DEFAULT_RETURNS_DUE_WEEKS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"VSAT_RETURNS_DUE_WEEKS={text!r} is not a whole number of weeks")
    return int(text)


def annual_tables_deadline_cron() -> str:
    """09:00 on VSAT_ANNUAL_TABLES_DUE (MM-DD, default 04-30) each year, as a cron string."""
    text = os.environ.get("VSAT_ANNUAL_TABLES_DUE", DEFAULT_ANNUAL_TABLES_DUE).strip()
    try:
        due = datetime.strptime(f"2001-{text}", "%Y-%m-%d")  # 2001: no 29 February
    except ValueError:
        raise ValueError(f"VSAT_ANNUAL_TABLES_DUE={text!r} is not a day of the year (MM-DD)") from None
    return f"0 9 {due.day} {due.month} *"


handoff_deliveries_spec = AssetSpec(
    HANDOFF_DELIVERIES, group_name="operations", kinds={"duckdb"},
    description="Which months' hand-offs have gone to the contractor and when (ops.sent_months: recorded by the "
    "hand-off, `handoff sent` or the SFTP delivery). Not materialised by Dagster; its check says whether a "
    "month's hand-off is overdue.",
    metadata={"dagster/table_name": "ops.sent_months"},
)
contractor_returns_spec = AssetSpec(
    CONTRACTOR_RETURNS, group_name="operations", kinds={"csv"},
    description="The contractor's returns as they come back (the rows of each returns file in "
    "staging.survey_responses or ops.returns_quarantine). Not materialised by Dagster; its check says whether "
    "a sent month's returns are overdue.",
)

# As assets definitions (not materialisable), like every other entry of the code location's assets.
handoff_deliveries = AssetsDefinition(specs=[handoff_deliveries_spec])
contractor_returns = AssetsDefinition(specs=[contractor_returns_spec])


class OverdueRun(Config):
    as_of: str = Field(default="", description="Check as if today were this date (YYYY-MM-DD); default today.")

    def day(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else datetime.now(ZoneInfo(TIMEZONE)).date()


def handoff_day_of(month: date, handoff_day: int) -> date:
    """The day sampling month `month`'s hand-off is due (day `handoff_day` of the next month)."""
    return next_month(month) + timedelta(days=handoff_day - 1)


def _no_warehouse(warehouse: WarehouseResource) -> bool:
    # A check never creates the warehouse (as no command-line tool does).
    return warehouse.database != ":memory:" and not os.path.exists(warehouse.database)


def unsent_handoffs(conn, as_of: date, handoff_day: int) -> list[tuple[date, date]]:
    """(month, hand-off day) of every month from the first one handed off whose hand-off day is over
    by `as_of` and that is not recorded as sent."""
    if not table_exists(conn, "ops.handoff_log"):
        return []
    first = conn.execute("SELECT min(sampling_month) FROM ops.handoff_log").fetchone()[0]
    if first is None:
        return []
    sent = {row[0] for row in conn.execute("SELECT sampling_month FROM ops.sent_months").fetchall()}
    months = months_in(first, as_of)
    return [(m, handoff_day_of(m, handoff_day)) for m in months
            if handoff_day_of(m, handoff_day) < as_of and m not in sent]


@asset_check(
    asset=HANDOFF_DELIVERIES, name=HANDOFFS_SENT_ON_TIME, blocking=False,
    description="Every month since the first hand-off is recorded as sent once its hand-off day is over "
    "(handoff_day of the survey settings). Run daily by overdue_checks_job.",
)
def handoffs_sent_by_handoff_day(
    context: AssetCheckExecutionContext, config: OverdueRun, warehouse: WarehouseResource, survey: SurveySettings
) -> AssetCheckResult:
    as_of = config.day()
    if _no_warehouse(warehouse):
        return AssetCheckResult(passed=True, description="no warehouse yet: nothing is due",
                                metadata={"as_of": str(as_of)})
    with warehouse.get_connection() as conn:
        overdue = unsent_handoffs(conn, as_of, survey.handoff_day)
    listed = ", ".join(f"{m:%Y-%m} (due {due:%Y-%m-%d})" for m, due in overdue)
    description = (f"hand-off not sent by its hand-off day: {listed}" if overdue
                   else f"every hand-off due by {as_of} is sent")
    return AssetCheckResult(
        passed=not overdue, severity=AssetCheckSeverity.ERROR, description=description,
        metadata={"as_of": str(as_of), "overdue_months": MetadataValue.json([f"{m:%Y-%m}" for m, _ in overdue])},
    )


def returns_not_back(conn, as_of: date, weeks: int) -> list[tuple[date, date]]:
    """(month, sent day) of every sent month with people in it whose returns have no row back by `as_of`,
    `weeks` weeks or more after it was sent."""
    if not table_exists(conn, "ops.handoff_log"):
        return []
    back = [f"SELECT DISTINCT sampling_month FROM {t}"
            for t in ("staging.survey_responses", "ops.returns_quarantine") if table_exists(conn, t)]
    returned = " UNION ".join(back) if back else "SELECT NULL::DATE AS sampling_month WHERE false"
    return [tuple(row) for row in conn.execute(
        f"""SELECT s.sampling_month, s.sent_at::DATE FROM ops.sent_months s
            JOIN ops.handoff_log l USING (sampling_month)
            WHERE l.rows > 0 AND s.sent_at::DATE + ? * 7 <= ?
              AND s.sampling_month NOT IN ({returned})
            ORDER BY 1""", [weeks, as_of]).fetchall()]


@asset_check(
    asset=CONTRACTOR_RETURNS, name=RETURNS_BACK_ON_TIME, blocking=False,
    description="Every sent month's returns are back within VSAT_RETURNS_DUE_WEEKS weeks (default "
    f"{DEFAULT_RETURNS_DUE_WEEKS}) of its sending. Run daily by overdue_checks_job.",
)
def returns_back_in_time(
    context: AssetCheckExecutionContext, config: OverdueRun, warehouse: WarehouseResource
) -> AssetCheckResult:
    as_of, weeks = config.day(), returns_due_weeks()
    if _no_warehouse(warehouse):
        return AssetCheckResult(passed=True, description="no warehouse yet: nothing is due",
                                metadata={"as_of": str(as_of)})
    with warehouse.get_connection() as conn:
        overdue = returns_not_back(conn, as_of, weeks)
    listed = ", ".join(f"{m:%Y-%m} (sent {sent:%Y-%m-%d})" for m, sent in overdue)
    description = (f"returns not back {weeks} weeks after sending: {listed}" if overdue
                   else f"every month sent {weeks} weeks or more before {as_of} has its returns back")
    return AssetCheckResult(
        passed=not overdue, severity=AssetCheckSeverity.ERROR, description=description,
        metadata={"as_of": str(as_of), "due_weeks": weeks,
                  "overdue_months": MetadataValue.json([f"{m:%Y-%m}" for m, _ in overdue])},
    )


# Superseded in 1.13 by FreshnessPolicy, used knowingly: a FreshnessPolicy asks whether the asset was
# materialised lately (any partition), this check whether the year just ended (its partition) was.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SupersessionWarning)
    annual_tables_freshness = build_time_partition_freshness_checks(
        assets=list(ANNUAL_TABLES), deadline_cron=annual_tables_deadline_cron(), timezone=TIMEZONE,
    )
OVERDUE_CHECKS = [handoffs_sent_by_handoff_day, returns_back_in_time, *annual_tables_freshness]
OVERDUE_CHECK_KEYS = [key for checks in OVERDUE_CHECKS for key in checks.check_keys]

overdue_checks_job = define_asset_job(
    "overdue_checks_job", selection=AssetSelection.checks(*OVERDUE_CHECKS),
    description="Whether any hand-off, returns file or year's tables is overdue (the overdue checks only).",
)


@schedule(job=overdue_checks_job, cron_schedule="0 8 * * *", execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.RUNNING,
          description="08:00 daily: the overdue checks; overdue_email_sensor mails the ones that fail.")
def overdue_checks_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=context.scheduled_execution_time.date().isoformat())


def failed_overdue_checks(instance, after: dict[str, int]) -> tuple[list[tuple[AssetCheckKey, str]], dict[str, int]]:
    """([(check key, its description)] of the overdue checks whose latest result is a failure not yet mailed,
    the new cursor: the id of each check's latest evaluated execution)."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(OVERDUE_CHECK_KEYS)
    failed, cursor = [], dict(after)
    for key, record in latest.items():
        event = record.event.dagster_event if record.event else None
        if event is None or event.event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
            continue  # planned, not yet evaluated
        name = key.to_user_string()
        if record.id <= after.get(name, 0):
            continue
        cursor[name] = record.id
        evaluation = event.event_specific_data
        if not evaluation.passed:
            failed.append((key, evaluation.description or "failed"))
    return sorted(failed, key=lambda item: item[0].to_user_string()), cursor


def overdue_mail(failed: list[tuple[AssetCheckKey, str]]) -> tuple[str, str]:
    lines = [f"{key.asset_key.to_user_string()} / {key.name}: {description}" for key, description in failed]
    lines += ["", f"The checks in the Dagster UI: {mail.ui_link('jobs/overdue_checks_job')}",
              "This mail holds no personal data."]
    what = ", ".join(sorted({key.asset_key.to_user_string() for key, _ in failed}))
    return f"overdue: {what}", "\n".join(lines) + "\n"


@sensor(
    name="overdue_email_sensor", default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=300,
    description="Mails each new failed result of the overdue checks (hand-off not sent, returns not back, "
    "annual tables not built) through VSAT_SMTP_HOST; skips while that is not configured.",
)
def overdue_email_sensor(context: SensorEvaluationContext):
    settings = mail.smtp_from_env()
    if settings is None:
        context.log.info(mail.not_configured_reason())
        return SkipReason(mail.not_configured_reason())
    seen = json.loads(context.cursor) if context.cursor else {}
    failed, cursor = failed_overdue_checks(context.instance, seen)
    if failed:
        subject, body = overdue_mail(failed)
        mail.send(settings, subject, body)  # refused: this tick fails and the next one tries again
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    return SkipReason(f"mailed {len(failed)} overdue check(s)" if failed else "no new failed overdue check")
