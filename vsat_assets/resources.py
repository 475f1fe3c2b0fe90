"""Settings a data engineer may change per run in the launchpad, with the survey's defaults (docs/method.md)."""

from dagster import ConfigurableResource
from pydantic import Field

from vsat_assets import vocabulary
from vsat_assets.register import current_force
from vsat_assets.vocabulary import EXCLUSION_RULES, SURVEY_STRANDS


class SurveySettings(ConfigurableResource):
    """The survey's rules. The SQL models see each field as `{{ var('<field>') }}`, beside the
    vocabulary's lists (vocabulary.model_variables)."""

    force_name: str = Field(default_factory=lambda: current_force().name,
                            description="The force's name, from the forces register (VSAT_FORCE, default Durham).")
    policing_areas: list[str] = Field(default_factory=lambda: list(current_force().policing_areas),
                                      description="The force's policing areas, from the forces register.")
    min_age: int = Field(default=18, description="Victims younger than this at report are not surveyed.")
    exclusion_rules: list[str] = Field(
        default=list(EXCLUSION_RULES), description="Rules to apply; leave one out to switch it off."
    )
    sample_rate: float = Field(default=0.15, description="Share of eligible victims sampled in every stratum.")
    domestic_abuse_sample_rate: float = Field(
        default=1.0,
        description="The domestic abuse survey's own rate: every eligible victim who is safe to contact, so that a "
        "quarter's base reaches 100 at Durham's volume (15% gives 10-19 respondents a month).",
    )
    domestic_abuse_monthly_cap: int = Field(
        default=0, ge=0,
        description="Most domestic abuse victims sampled in a month (what the contractor can call); 0 = no cap. "
        "Above it the month's rate drops to cap / eligible in every area alike, and the design weights follow.",
    )
    strand_sample_rates: dict[str, float] = Field(
        default_factory=dict, description="Per-strand rates overriding sample_rate, e.g. {'HATE': 0.5}."
    )
    sample_seed: int = Field(default=20190401, description="Seed of the keyed ordering that selects the sample.")
    recontact_months: int = Field(default=12, description="No one is handed off twice within this many months.")
    handoff_day: int = Field(default=1, description="Day of the month after the sampling month the hand-off is sent.")
    contact_from_days: int = 56
    contact_until_days: int = 84

    def sample_rates(self) -> dict[str, float]:
        rates = {strand: self.sample_rate for strand in SURVEY_STRANDS}
        rates["DOMESTIC_ABUSE"] = self.domestic_abuse_sample_rate
        unknown = self.strand_sample_rates.keys() - set(SURVEY_STRANDS)
        if unknown:
            raise ValueError(f"strand_sample_rates names unknown strands {sorted(unknown)}")
        rates.update(self.strand_sample_rates)
        bad = {s: r for s, r in rates.items() if not 0 < r <= 1}
        if bad:
            raise ValueError(f"sample rates must be in (0, 1]: {bad}")
        return rates

    def monthly_caps(self) -> dict[str, int]:
        """strand -> most sampled in a month (0 = no cap)."""
        return {strand: (self.domestic_abuse_monthly_cap if strand == "DOMESTIC_ABUSE" else 0)
                for strand in SURVEY_STRANDS}

    def model_vars(self) -> dict:
        unknown = set(self.exclusion_rules) - set(EXCLUSION_RULES)
        if unknown:
            raise ValueError(f"exclusion_rules names unknown rules {sorted(unknown)}; known: {EXCLUSION_RULES}")
        return {**vocabulary.model_variables(), **self.model_dump(), "sample_rates": self.sample_rates(),
                "monthly_caps": self.monthly_caps(), "exclusion_rules": self.exclusion_rules or [""]}
