"""Stage 4, hand-off: the cohort file to the contractor, the monthly run, and the retention purge."""

from dagster import Definitions

from vsat_assets.defs.handoff.assets import contractor_handoff, retention_purge
from vsat_assets.defs.handoff.checks import no_personal_data_past_retention
from vsat_assets.defs.handoff.jobs import monthly_survey_job, retention_job
from vsat_assets.defs.handoff.schedules import monthly_survey_schedule, retention_schedule

defs = Definitions(
    assets=[contractor_handoff, retention_purge],
    asset_checks=[no_personal_data_past_retention],
    jobs=[monthly_survey_job, retention_job],
    schedules=[monthly_survey_schedule, retention_schedule],
)
