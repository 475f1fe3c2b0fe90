"""Checks that every victim of the month ends eligible or excluded, exactly once."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from vsat_assets.sql_runner.partition_results import each_partition
from vsat_assets.partitions import monthly_partitions
from vsat_assets.warehouse import WarehouseResource

EVERY_VICTIM_CLASSIFIED_ONCE = "every_victim_classified_once"


@asset_check(
    asset="victim_eligibility",
    name=EVERY_VICTIM_CLASSIFIED_ONCE,
    partitions_def=monthly_partitions,
    blocking=True,
    description="Each victim of a raw report appears once, either eligible (with a survey_id) or with one reason.",
)
@each_partition
def every_victim_classified_once(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    window = context.partition_time_window
    params = [window.start.date(), window.end.date()]
    with warehouse.get_connection() as conn:
        raw, classified, distinct, unclassified = conn.execute(
            """SELECT
                 (SELECT count(*) FROM raw.reports WHERE report_date >= $1 AND report_date < $2),
                 count(*),
                 count(DISTINCT (force_code, crime_reference, victim_person_id)),
                 count(*) FILTER (WHERE (exclusion_reason IS NULL) = (survey_id IS NULL))
               FROM intermediate.victim_eligibility WHERE report_date >= $1 AND report_date < $2""",
            params,
        ).fetchone()
    return AssetCheckResult(
        passed=raw == classified == distinct and unclassified == 0,
        metadata={
            "raw_victims": raw,
            "classified_rows": classified,
            "distinct_victims": distinct,
            "rows_neither_or_both_eligible_and_excluded": unclassified,
        },
    )
