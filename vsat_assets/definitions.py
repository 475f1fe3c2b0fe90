"""The code location: the stages' definitions (vsat_assets/defs/<stage>/) merged, with the resources."""

import os
import warnings

from dagster import AssetSpec, BetaWarning, Definitions, PreviewWarning, in_process_executor, map_asset_specs

# Used knowingly: single-run backfills (beta) and partitioned asset checks (preview).
# Without this every asset repeats the same notice at each code-location load.
warnings.filterwarnings("ignore", category=BetaWarning, module="dagster")
warnings.filterwarnings("ignore", category=PreviewWarning, module="dagster")

from vsat_assets import settings
from vsat_assets.alerts import definitions as alerts
from vsat_assets.defs.annual import definitions as annual
from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.compare import definitions as compare
from vsat_assets.defs.eligibility import definitions as eligibility
from vsat_assets.defs.handoff import definitions as handoff
from vsat_assets.defs.handoff.assets import HandoffSettings
from vsat_assets.defs.handoff.sftp import ContractorSftp
from vsat_assets.defs.quarterly import definitions as quarterly
from vsat_assets.defs.publish.definitions import publish_defs
from vsat_assets.defs.raw_reports import definitions as raw_reports
from vsat_assets.defs.raw_reports.assets import ReportSource
from vsat_assets.defs.responses import definitions as responses
from vsat_assets.defs.responses.assets import ContractorInbox
from vsat_assets.defs.sampling import definitions as sampling
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import warehouse_resource

# In lineage order; publish (the analysts' file) comes last and reads what the others write.
STAGES = [raw_reports, eligibility, sampling, handoff, responses, annual, compare, quarterly]
OWNER = "team:vsat-data"


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


def _owned(spec: AssetSpec) -> AssetSpec:
    return spec if spec.owners else spec.replace_attributes(owners=[OWNER])


def _merged() -> Definitions:
    stages = [stage.defs for stage in STAGES]
    # Alerts watch the others: their mail sensors and overdue checks (vsat_assets/alerts/).
    merged = Definitions.merge(*stages, publish_defs(stages), alerts.defs)
    return Definitions(
        assets=map_asset_specs(_owned, list(merged.assets)),
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        resources=resources(),
        # Steps run one after another in the run's process: DuckDB takes one writer at a time.
        executor=in_process_executor,
    )


defs = _merged()
