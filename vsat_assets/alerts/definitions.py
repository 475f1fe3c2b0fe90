"""Alerts: the run-failure mail, the overdue checks with their job, schedule and mail sensor."""

from dagster import Definitions

from vsat_assets.alerts.overdue import (
    OVERDUE_CHECKS,
    contractor_returns,
    handoff_deliveries,
    overdue_checks_job,
    overdue_checks_schedule,
    overdue_email_sensor,
)
from vsat_assets.alerts.run_failure import run_failure_email_sensor

defs = Definitions(
    assets=[handoff_deliveries, contractor_returns],
    asset_checks=OVERDUE_CHECKS,
    jobs=[overdue_checks_job],
    schedules=[overdue_checks_schedule],
    sensors=[run_failure_email_sensor, overdue_email_sensor],
)
