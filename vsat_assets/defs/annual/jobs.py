"""The annual run: a financial year's tables, HMICFRS export and report."""

from dagster import AssetSelection, define_asset_job

from vsat_assets.defs.publish.assets import ANALYTICS_FILE

annual_satisfaction_job = define_asset_job(
    "annual_satisfaction_job",
    # The rolling table (in the responses group, rebuilt with each month's returns) also reads the
    # year's calibrated weights: rebuilt here once they are written.
    selection=AssetSelection.groups("annual") | AssetSelection.assets("satisfaction_rolling", ANALYTICS_FILE),
    description="A financial year's satisfaction tables, HMICFRS export and annual report.",
)
