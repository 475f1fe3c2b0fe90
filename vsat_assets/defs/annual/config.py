"""The annual outputs' settings: disclosure thresholds and the HMICFRS force code."""

from dagster import ConfigurableResource
from pydantic import Field

from vsat_assets.defs.annual.tables import Thresholds
from vsat_assets.register import current_force


class AnnualSettings(ConfigurableResource):
    """Disclosure control and export settings of the annual outputs (docs/method.md, Disclosure control)."""

    low_base_threshold: int = Field(default=50, description="Estimates on fewer respondents are flagged low base.")
    suppress_threshold: int = Field(default=10, description="Estimates on fewer respondents are not published.")
    force_code_for_hmicfrs: str = Field(default_factory=lambda: current_force().code,
                                        description="force_code written in the HMICFRS export: the force of "
                                        "the forces register this deployment runs (VSAT_FORCE, default DUR).")

    def thresholds(self) -> Thresholds:
        return Thresholds(self.low_base_threshold, self.suppress_threshold)
