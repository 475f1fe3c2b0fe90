"""The monthly run (a month's reports through to the contractor hand-off) and the retention purge.

Jobs select by lineage, not by group: groups say where an asset belongs in the UI.
"""

from dagster import AssetSelection, define_asset_job

from vsat_assets.defs.publish.assets import ANALYTICS_FILE

# Each month's sample depends on the month before: the instance profiles (deploy/) run the runs
# carrying this tag one at a time, in the order they were queued (a job backfill queues them in order).
SAMPLING_CHAIN_TAG = "vsat/sampling_chain"

HANDOFF = AssetSelection.assets("contractor_handoff")
# Written by the opt-out CLI and the returns, read by every month: not rebuilt by a month's run.
OPT_OUTS = AssetSelection.assets("opt_out_register")
# Raw reports -> eligibility -> sampling frame -> cohort -> hand-off.
TO_HANDOFF = HANDOFF.upstream() - OPT_OUTS
# The returns, the retention purge and the yearly tables come after the hand-off, on their own runs.
AFTER_HANDOFF = HANDOFF.downstream() - HANDOFF

monthly_survey_job = define_asset_job(
    "monthly_survey_job",
    # With the month's own marts (volumes, exclusions): what the chain feeds and nothing after the hand-off.
    selection=TO_HANDOFF | (TO_HANDOFF.downstream(depth=1) - AFTER_HANDOFF) | AssetSelection.assets(ANALYTICS_FILE),
    description="A month's reports through eligibility and sampling to the contractor hand-off.",
    tags={SAMPLING_CHAIN_TAG: "monthly"},
)
retention_job = define_asset_job(
    "retention_job",
    selection=AssetSelection.assets("retention_purge"),
    description="Purge names, phone numbers and hand-off files past the retention period.",
)
