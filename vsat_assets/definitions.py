"""The code location: every asset, check, schedule and resource of the VSAT platform."""

from dagster import Definitions, in_process_executor

from vsat_assets import settings
from vsat_assets.raw_reports.assets import ReportSource, offence_catalogue, raw_reports
from vsat_assets.resources import SurveySettings
from vsat_assets.sql_runner.assets import build_sql_assets
from vsat_assets.warehouse import warehouse_resource


def resources() -> dict:
    return {
        "warehouse": warehouse_resource(),
        "report_source": ReportSource(kind=settings.report_source(), drop_dir=str(settings.drop_dir())),
        "survey": SurveySettings(),
    }


defs = Definitions(
    assets=[offence_catalogue, raw_reports, *build_sql_assets()],
    resources=resources(),
    # Steps run one after another in the run's process: DuckDB takes one writer at a time.
    executor=in_process_executor,
)
