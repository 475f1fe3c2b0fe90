"""`make demo`: build the demo financial year on the built-in data and print what it produced."""

import os
import sys
import time

import duckdb
from dagster import DagsterInstance, materialize

from vsat_assets import settings
from vsat_assets.definitions import defs

DEMO_FIRST_MONTH = "2025-04-01"
DEMO_LAST_MONTH = "2026-03-01"
PARTITION_RANGE_TAGS = {
    "dagster/asset_partition_range_start": DEMO_FIRST_MONTH,
    "dagster/asset_partition_range_end": DEMO_LAST_MONTH,
}


def _instance() -> DagsterInstance:
    # With DAGSTER_HOME set (the Makefile sets it), `make ui` shows the demo's runs.
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()


def build_demo_year(instance: DagsterInstance) -> None:
    result = materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        instance=instance,
        tags=PARTITION_RANGE_TAGS,
        raise_on_error=True,
    )
    if not result.success:
        sys.exit("the demo run failed: see the log above")


def print_volumes(path) -> None:
    with duckdb.connect(str(path), read_only=True) as conn:
        print("\nReports (victims) per month and survey strand, demo year 2025/26:")
        conn.sql(
            f"""PIVOT (SELECT month, survey_strand, reports FROM marts.report_volumes
                       WHERE month_start BETWEEN '{DEMO_FIRST_MONTH}' AND '{DEMO_LAST_MONTH}')
                ON survey_strand USING sum(reports) GROUP BY month ORDER BY month"""
        ).show(max_width=250)
        print("Per policing area and record type:")
        conn.sql(
            f"""PIVOT (SELECT area, record_type, reports FROM marts.report_volumes
                       WHERE month_start BETWEEN '{DEMO_FIRST_MONTH}' AND '{DEMO_LAST_MONTH}')
                ON record_type USING sum(reports) GROUP BY area ORDER BY area"""
        ).show()


def main() -> None:
    started = time.perf_counter()
    settings.data_dir().mkdir(parents=True, exist_ok=True)
    with _instance() as instance:
        build_demo_year(instance)
    print_volumes(settings.warehouse_path())
    print(f"Warehouse: {settings.warehouse_path()}  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
