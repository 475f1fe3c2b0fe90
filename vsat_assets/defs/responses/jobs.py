"""The returns run: a sampling month's returns file into the response marts (selected by lineage)."""

from dagster import AssetSelection, define_asset_job

from vsat_assets.defs.annual.jobs import YEAR_TABLES
from vsat_assets.defs.publish.assets import ANALYTICS_FILE

RETURNS = AssetSelection.assets("survey_responses")
ROLLING = AssetSelection.assets("satisfaction_rolling")

survey_responses_job = define_asset_job(
    "survey_responses_job",
    # Everything the returns feed but the financial year's tables; the rolling table is rebuilt with
    # each month's returns (its latest periods marked partial), the annual run rebuilds it with the weights.
    selection=RETURNS.downstream() - (YEAR_TABLES - ROLLING) | AssetSelection.assets(ANALYTICS_FILE),
    description="Ingest a sampling month's returns file and rebuild the response marts.",
)
