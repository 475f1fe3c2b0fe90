"""The returns run: a sampling month's returns file into the response marts."""

from dagster import AssetSelection, define_asset_job

from vsat_assets.defs.publish.assets import ANALYTICS_FILE

survey_responses_job = define_asset_job(
    "survey_responses_job",
    selection=AssetSelection.groups("responses") | AssetSelection.assets(ANALYTICS_FILE),
    description="Ingest a sampling month's returns file and rebuild the response marts.",
)
