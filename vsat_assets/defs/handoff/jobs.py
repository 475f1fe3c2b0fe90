"""The monthly run (a month's reports through to the contractor hand-off) and the retention purge."""

from dagster import AssetSelection, define_asset_job

from vsat_assets.defs.publish.assets import ANALYTICS_FILE

# Each month's sample depends on the month before: the instance profiles (deploy/) run the runs
# carrying this tag one at a time, in the order they were queued (a job backfill queues them in order).
SAMPLING_CHAIN_TAG = "vsat/sampling_chain"

monthly_survey_job = define_asset_job(
    "monthly_survey_job",
    selection=(
        AssetSelection.groups("raw_reports", "eligibility", "sampling", "handoff")
        - AssetSelection.assets("opt_out_register", "retention_purge")
    ) | AssetSelection.assets(ANALYTICS_FILE),
    description="A month's reports through eligibility and sampling to the contractor hand-off.",
    tags={SAMPLING_CHAIN_TAG: "monthly"},
)
retention_job = define_asset_job(
    "retention_job",
    selection=AssetSelection.assets("retention_purge"),
    description="Purge names, phone numbers and hand-off files past the retention period.",
)
