"""Stand-in for the survey contractor (domain.md section 5). The pipeline never imports it.

Run it with ``python -m vsat_assets.contractor_sim --outbox DIR --inbox DIR``.
"""

from vsat_assets.contractor_sim.simulate import (
    HANDOFF_COLUMNS,
    OUTCOMES,
    QUESTIONS,
    RETURNS_COLUMNS,
    ContractorSettings,
    ManifestMismatch,
    Profile,
    simulate_returns,
)

__all__ = [
    "HANDOFF_COLUMNS",
    "OUTCOMES",
    "QUESTIONS",
    "RETURNS_COLUMNS",
    "ContractorSettings",
    "ManifestMismatch",
    "Profile",
    "simulate_returns",
]
