"""Settings a data engineer may change per run in the launchpad, with the brief's defaults."""

from dagster import ConfigurableResource
from pydantic import Field

from vsat_assets.raw_reports.schema import DURHAM_AREAS


class SurveySettings(ConfigurableResource):
    """The survey's rules. The SQL models see each field as `{{ var('<field>') }}`."""

    force_name: str = "Durham Constabulary"
    policing_areas: list[str] = Field(default=list(DURHAM_AREAS))
    min_age: int = Field(default=18, description="Victims younger than this at report are not surveyed.")
    contact_from_days: int = 56
    contact_until_days: int = 84

    def model_vars(self) -> dict:
        return self.model_dump()
