"""Run some of the project's assets in a process of their own, for the kill -9 tests:

    python vsat_tests/crash_runner.py <folder> <partition or -> <asset> [<asset> ...]

with the test resources on `<folder>` (warehouse.duckdb, outbox, inbox; the generator at the
tests' scale). VSAT_CRASH_AT in the environment picks the step at which the process kills itself.
"""

import os
import sys
from pathlib import Path

from dagster import DagsterInstance, materialize

sys.path.insert(0, str(Path(__file__).resolve().parent))
CRASH_AT = os.environ.get("VSAT_CRASH_AT", "")

from conftest import SMALL_SCALE  # noqa: E402  (also puts the tests' profile in the environment)
from vsat_assets.defs.annual.config import AnnualSettings  # noqa: E402
from vsat_assets.definitions import defs  # noqa: E402
from vsat_assets.defs.handoff.assets import HandoffSettings  # noqa: E402
from vsat_assets.defs.handoff.sftp import ContractorSftp  # noqa: E402
from vsat_assets.defs.raw_reports.assets import ReportSource  # noqa: E402
from vsat_assets.resources import SurveySettings  # noqa: E402
from vsat_assets.defs.responses.assets import ContractorInbox  # noqa: E402
from vsat_assets.warehouse import warehouse_resource  # noqa: E402


def resources(folder: Path) -> dict:
    """The same resources as conftest's `make_resources("generator")` on `folder`."""
    return {
        "warehouse": warehouse_resource(str(folder / "warehouse.duckdb")),
        "report_source": ReportSource(kind="generator", scale=SMALL_SCALE),
        "survey": SurveySettings(),
        "handoff": HandoffSettings(outbox=str(folder / "outbox")),
        "contractor_inbox": ContractorInbox(inbox=str(folder / "inbox")),
        "annual": AnnualSettings(),
        "contractor_sftp": ContractorSftp(),
    }


if __name__ == "__main__":
    os.environ["VSAT_CRASH_AT"] = CRASH_AT  # conftest clears it for the tests themselves
    folder, partition, *selection = sys.argv[1:]
    with DagsterInstance.ephemeral() as instance:
        result = materialize([*defs.assets, *defs.asset_checks], resources=resources(Path(folder)),
                             instance=instance, selection=selection, raise_on_error=False,
                             partition_key=None if partition == "-" else partition)
    sys.exit(0 if result.success else 1)
