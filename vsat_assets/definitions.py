"""The code location: every asset, check, job and resource of the VSAT platform."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor, load_asset_checks_from_modules

from vsat_assets import settings
from vsat_assets.annual.assets import ANNUAL_ASSETS, ANNUAL_CHECKS
from vsat_assets.eligibility import checks as eligibility_checks
from vsat_assets.handoff.assets import HandoffSettings, contractor_handoff, retention_purge
from vsat_assets.raw_reports.assets import ReportSource, offence_catalogue, raw_reports
from vsat_assets.resources import SurveySettings
from vsat_assets.responses.assets import ContractorInbox, survey_responses
from vsat_assets.sampling import checks as sampling_checks
from vsat_assets.sampling.assets import opt_out_register
from vsat_assets.sql_runner.assets import build_sql_assets
from vsat_assets.warehouse import warehouse_resource

MONTHLY_GROUPS = ("raw_reports", "eligibility", "sampling", "handoff")

monthly_survey_job = define_asset_job(
    "monthly_survey_job",
    selection=AssetSelection.groups(*MONTHLY_GROUPS) - AssetSelection.assets("opt_out_register", "retention_purge"),
    description="A month's reports through eligibility and sampling to the contractor hand-off.",
)
record_opt_out_job = define_asset_job(
    "record_opt_out",
    selection=AssetSelection.assets("opt_out_register"),
    description="Add an emailed opt-out request: launch with the request in the config.",
)


def resources() -> dict:
    return {
        "warehouse": warehouse_resource(),
        "report_source": ReportSource(kind=settings.report_source(), drop_dir=str(settings.drop_dir())),
        "survey": SurveySettings(),
        "handoff": HandoffSettings(),
        "contractor_inbox": ContractorInbox(),
    }


defs = Definitions(
    assets=[
        offence_catalogue, raw_reports, opt_out_register, contractor_handoff, retention_purge, survey_responses,
        *build_sql_assets(), *ANNUAL_ASSETS,
    ],
    asset_checks=[*load_asset_checks_from_modules([eligibility_checks, sampling_checks]), *ANNUAL_CHECKS],
    jobs=[monthly_survey_job, record_opt_out_job],
    resources=resources(),
    # Steps run one after another in the run's process: DuckDB takes one writer at a time.
    executor=in_process_executor,
)
