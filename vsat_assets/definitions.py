"""The code location: every asset, check, job and resource of the VSAT platform."""

import os
import warnings

from dagster import (
    AssetSpec,
    BetaWarning,
    Definitions,
    PreviewWarning,
    in_process_executor,
    load_asset_checks_from_modules,
    map_asset_specs,
)

# Used knowingly: single-run backfills (beta) and partitioned asset checks (preview).
# Without this every asset repeats the same notice at each code-location load.
warnings.filterwarnings("ignore", category=BetaWarning, module="dagster")
warnings.filterwarnings("ignore", category=PreviewWarning, module="dagster")

from vsat_assets import settings
from vsat_assets.annual.assets import ANNUAL_ASSETS, ANNUAL_CHECKS
from vsat_assets.annual.config import AnnualSettings
from vsat_assets.eligibility import checks as eligibility_checks
from vsat_assets.handoff.assets import (
    HandoffSettings,
    contractor_handoff,
    no_personal_data_past_retention,
    retention_purge,
)
from vsat_assets.handoff.sftp import ContractorSftp
from vsat_assets.jobs import ALL_JOBS
from vsat_assets.publish.assets import build_publish_asset
from vsat_assets.raw_reports.assets import ReportSource, offence_catalogue, raw_reports
from vsat_assets.resources import SurveySettings
from vsat_assets.responses.assets import ContractorInbox, survey_responses
from vsat_assets.sampling import checks as sampling_checks
from vsat_assets.sampling.assets import opt_out_register
from vsat_assets.schedules import ALL_SCHEDULES
from vsat_assets.sensors import contractor_returns_sensor
from vsat_assets.sql_runner.assets import PROJECT_DIR, build_sql_assets
from vsat_assets.warehouse import warehouse_resource


def resources() -> dict:
    return {
        "warehouse": warehouse_resource(),
        "report_source": ReportSource(kind=settings.report_source(), drop_dir=str(settings.drop_dir())),
        "survey": SurveySettings(),
        "handoff": HandoffSettings(age_recipient=os.environ.get("VSAT_HANDOFF_AGE_RECIPIENT", "")),
        "contractor_inbox": ContractorInbox(),
        "contractor_sftp": ContractorSftp.from_env(),
        "annual": AnnualSettings(),
    }


OWNER = "team:vsat-data"


def _owned(spec: AssetSpec) -> AssetSpec:
    return spec if spec.owners else spec.replace_attributes(owners=[OWNER])


ASSETS = map_asset_specs(_owned, [
    offence_catalogue, raw_reports, opt_out_register, contractor_handoff, retention_purge, survey_responses,
    *build_sql_assets(PROJECT_DIR), *ANNUAL_ASSETS,
])

defs = Definitions(
    assets=[*ASSETS, *map_asset_specs(_owned, [build_publish_asset(ASSETS)])],
    asset_checks=[
        *load_asset_checks_from_modules([eligibility_checks, sampling_checks]),
        no_personal_data_past_retention,
        *ANNUAL_CHECKS,
    ],
    jobs=ALL_JOBS,
    schedules=ALL_SCHEDULES,
    sensors=[contractor_returns_sensor],
    resources=resources(),
    # Steps run one after another in the run's process: DuckDB takes one writer at a time.
    executor=in_process_executor,
)
