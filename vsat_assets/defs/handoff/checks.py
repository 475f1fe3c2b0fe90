"""The retention check: nothing personal held past the retention period."""

from datetime import date

from dagster import AssetCheckResult, asset_check

from vsat_assets import clock
from vsat_assets.defs.handoff.assets import PERSONAL_DATA_PAST_RETENTION, HandoffSettings, RetentionRun, retention_purge
from vsat_assets.defs.handoff.retention import overdue
from vsat_assets.warehouse import WarehouseResource, table_exists


@asset_check(
    asset=retention_purge,
    name=PERSONAL_DATA_PAST_RETENTION,
    description="No name, phone number or hand-off file is held past the retention period (as of today). "
    "Runs after each purge, and on its own from the UI to see whether the purge is keeping up.",
)
def no_personal_data_past_retention(
    config: RetentionRun, warehouse: WarehouseResource, handoff: HandoffSettings
) -> AssetCheckResult:
    as_of = date.fromisoformat(config.as_of) if config.as_of else clock.today()
    with warehouse.get_connection() as conn:
        if not table_exists(conn, "intermediate.sampled_cohort"):
            return AssetCheckResult(passed=True, metadata={"cohort_rows_with_personal_data": 0})
        left = overdue(conn, handoff.outbox_dir(), as_of, handoff.retention_days)
    return AssetCheckResult(
        passed=left["cohort_rows_with_personal_data"] == 0 and not left["handoff_files"],
        metadata={"cohort_rows_with_personal_data": left["cohort_rows_with_personal_data"],
                  "handoff_files_past_retention": len(left["handoff_files"])},
    )
