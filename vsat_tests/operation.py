"""A site for the years-of-operation test: one data folder run through the code location's
named jobs, as the schedules and the sensor launch them, with the test's resources.

Run as a script it executes monthly_survey_job for one month in a process of its own (the
test launches two at once, and kills one with SIGKILL in the middle of a write):

    python vsat_tests/operation.py DATA_DIR YYYY-MM-01 SCALE [--stop-in-write MODEL]

With --stop-in-write the process writes `<DATA_DIR>/in_write` and then waits for ever, inside
the open transaction of MODEL's write (after its rows are inserted, before the commit).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, in_process_executor

from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.handoff.assets import HandoffSettings
from vsat_assets.defs.handoff.sftp import ContractorSftp
from vsat_assets.defs.raw_reports.assets import ReportSource
from vsat_assets.resources import SurveySettings
from vsat_assets.defs.responses.assets import ContractorInbox
from vsat_assets.warehouse import warehouse_resource

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def site_resources(data_dir: Path, scale: float) -> dict:
    """The demo's layout in `data_dir`: warehouse, outbox and inbox inside it."""
    return {
        "warehouse": warehouse_resource(str(data_dir / "vsat.duckdb")),
        "report_source": ReportSource(kind="generator", scale=scale),
        "survey": SurveySettings(),
        "handoff": HandoffSettings(outbox=str(data_dir / "outbox")),
        "contractor_inbox": ContractorInbox(inbox=str(data_dir / "inbox")),
        "contractor_sftp": ContractorSftp(),  # none: the local outbox and inbox are the exchange
        "annual": AnnualSettings(),
    }


def site_definitions(resources: dict) -> Definitions:
    """The code location's assets, checks, jobs, schedules and sensor, on these resources."""
    from vsat_assets.definitions import defs

    return Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, schedules=defs.schedules,
        sensors=defs.sensors, resources=resources, executor=in_process_executor,
    )


def run_job(defs: Definitions, instance: DagsterInstance, job_name: str, partition_key: str | None = None,
            partition_range: tuple[str, str] | None = None) -> ExecuteInProcessResult:
    tags = {RANGE_START_TAG: partition_range[0], RANGE_END_TAG: partition_range[1]} if partition_range else None
    return defs.resolve_job_def(job_name).execute_in_process(
        partition_key=partition_key, tags=tags, instance=instance, raise_on_error=False)


def _stop_in_write(model_name: str, marker: Path) -> None:
    from vsat_assets.sql_runner import build

    check_invariants = build._check_invariants

    def stopping(conn, model, *args, **kwargs):
        check_invariants(conn, model, *args, **kwargs)
        if model.name == model_name:
            marker.touch()
            time.sleep(3600)

    build._check_invariants = stopping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("month")
    parser.add_argument("scale", type=float)
    parser.add_argument("--stop-in-write")
    args = parser.parse_args(argv)
    if args.stop_in_write:
        _stop_in_write(args.stop_in_write, args.data_dir / "in_write")
    defs = site_definitions(site_resources(args.data_dir, args.scale))
    with DagsterInstance.ephemeral() as instance:
        result = run_job(defs, instance, "monthly_survey_job", partition_key=args.month)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
