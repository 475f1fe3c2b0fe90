"""Stage 6, annual: weights, satisfaction tables, the HMICFRS export and the annual report."""

from dagster import Definitions

from vsat_assets.defs.annual.assets import ANNUAL_ASSETS
from vsat_assets.defs.annual.checks import build_checks
from vsat_assets.defs.annual.jobs import annual_satisfaction_job
from vsat_assets.defs.annual.schedules import annual_satisfaction_schedule

defs = Definitions(
    assets=ANNUAL_ASSETS,
    asset_checks=build_checks(),
    jobs=[annual_satisfaction_job],
    schedules=[annual_satisfaction_schedule],
)
