"""Stage 5, responses: the contractor's returns in, the response marts rebuilt."""

from dagster import Definitions

from vsat_assets.defs.responses.assets import SQL_ASSETS, survey_responses
from vsat_assets.defs.responses.jobs import survey_responses_job
from vsat_assets.defs.responses.sensors import contractor_returns_sensor

defs = Definitions(
    assets=[survey_responses, *SQL_ASSETS],
    jobs=[survey_responses_job],
    sensors=[contractor_returns_sensor],
)
