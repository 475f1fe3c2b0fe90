"""The Police and Crime Plan's targets and the red / amber / green rating tied to the 95% interval."""

from dagster import Config
from pydantic import Field

GREEN, AMBER, RED = "green", "amber", "red"
RAG_MEANING = {
    GREEN: "Green: the whole 95% interval is at or above the target.",
    AMBER: "Amber: the 95% interval includes the target (not distinguishable from it).",
    RED: "Red: the whole 95% interval is below the target.",
}


class PackTargets(Config):
    """Targets (% satisfied with the whole experience) the pack rates against; set them to the plan's."""

    general_whole_experience_pct: float = Field(
        default=82.0, ge=0, le=100,
        description="General survey, rolling 12 months to the quarter's end. Default 82.0: hold Durham's "
        "2022/23 whole-experience figure (domain notes, section 6).")
    domestic_abuse_whole_experience_pct: float = Field(
        default=82.0, ge=0, le=100,
        description="Domestic abuse survey, the three months of the quarter. Default 82.0, as the general survey.")


def rag(ci_low: float | None, ci_high: float | None, target: float) -> str | None:
    """green: ci_low >= target; red: ci_high < target; amber: the interval straddles it; None when the
    figure is not published (suppressed)."""
    if ci_low is None or ci_high is None:
        return None
    if ci_low > ci_high:
        raise ValueError(f"interval {ci_low}..{ci_high} has its lower bound above its upper bound")
    if ci_low >= target:
        return GREEN
    if ci_high < target:
        return RED
    return AMBER
