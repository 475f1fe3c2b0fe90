"""Jobs: the slices of the lineage that schedules, sensors and people launch."""

from dagster import AssetSelection, define_asset_job

PUBLISH = AssetSelection.assets("analytics_file")
# Each month's sample depends on the month before: the instance profiles (deploy/) run the runs
# carrying this tag one at a time, in the order they were queued (a job backfill queues them in order).
SAMPLING_CHAIN_TAG = "vsat/sampling_chain"

monthly_survey_job = define_asset_job(
    "monthly_survey_job",
    selection=(
        AssetSelection.groups("raw_reports", "eligibility", "sampling", "handoff")
        - AssetSelection.assets("opt_out_register", "retention_purge")
    ) | PUBLISH,
    description="A month's reports through eligibility and sampling to the contractor hand-off.",
    tags={SAMPLING_CHAIN_TAG: "monthly"},
)
survey_responses_job = define_asset_job(
    "survey_responses_job",
    selection=AssetSelection.groups("responses") | PUBLISH,
    description="Ingest a sampling month's returns file and rebuild the response marts.",
)
annual_satisfaction_job = define_asset_job(
    "annual_satisfaction_job",
    # The rolling table (in the responses group, rebuilt with each month's returns) also reads the
    # year's calibrated weights: rebuilt here once they are written.
    selection=AssetSelection.groups("annual") | AssetSelection.assets("satisfaction_rolling") | PUBLISH,
    description="A financial year's satisfaction tables, HMICFRS export and annual report.",
)
retention_job = define_asset_job(
    "retention_job",
    selection=AssetSelection.assets("retention_purge"),
    description="Purge names, phone numbers and hand-off files past the retention period.",
)
ALL_JOBS = [monthly_survey_job, survey_responses_job, annual_satisfaction_job, retention_job]
