"""The test of a force's figure against a comparator that may include it (docs/method.md, Comparisons).

Every figure is a percentage p with the half-width h of its 95% interval (h = 1.96 se).
A comparator C that includes the force F with population share s is C = s F + (1 - s) R,
R the rest of the comparator, sampled independently of F. Then F - C = (1 - s)(F - R) and

    var(F - C) = (1 - s)^2 (var F + var R) = (1 - s)^2 var F + (var C - s^2 var F)

because var C = s^2 var F + (1 - s)^2 var R. In half-widths: h_d^2 = (1 - s)^2 h_F^2 +
max(h_C^2 - s^2 h_F^2, 0) (the max guards against published figures rounded so far that
they imply a negative variance for the rest). With s = 0 (an independent comparator, such as
the force's previous year) this is the SCJS rule the annual tables use: significant when
|d| > sqrt(h_F^2 + h_C^2). A difference is called "higher than" / "lower than" only when
|d| > h_d (two-sided 5%), otherwise "broadly in line with".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964
HIGHER, IN_LINE, LOWER = "higher than", "broadly in line with", "lower than"
VERDICTS = (HIGHER, IN_LINE, LOWER)


@dataclass(frozen=True)
class Test:
    difference: float   # force minus comparator, points
    half_width: float   # of the difference's 95% interval
    p_value: float | None
    significant: bool
    verdict: str


def difference_half_width(force_half: float, comparator_half: float, share: float = 0.0) -> float:
    """95% half-width of force - comparator when the comparator includes the force with `share`."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share {share} is not in [0, 1)")
    rest = max(comparator_half ** 2 - share ** 2 * force_half ** 2, 0.0)
    return math.sqrt((1.0 - share) ** 2 * force_half ** 2 + rest)


def compare(force_pct: float, force_half: float, comparator_pct: float, comparator_half: float,
            share: float = 0.0) -> Test:
    d = force_pct - comparator_pct
    h = difference_half_width(force_half, comparator_half, share)
    p = math.erfc(abs(d) / (h / Z95) / math.sqrt(2.0)) if h > 0 else None
    significant = abs(d) > h
    verdict = IN_LINE if not significant else HIGHER if d > 0 else LOWER
    return Test(d, h, p, significant, verdict)


@dataclass(frozen=True)
class GapChange:
    """The white / ethnic-minority gap in two years and whether it moved significantly."""
    previous_year: str
    year: str
    previous_gap: float
    gap: float
    half_width: float
    significant: bool
    both_gaps_significant: bool  # each year's gap differs from 0 on its own

    def sentence(self, question_phrase: str) -> str:
        subject = (f"The gap between white and ethnic-minority victims' satisfaction with {question_phrase} "
                   "(white minus ethnic-minority)")
        span = f"from {self.previous_gap:.1f} points in {self.previous_year} to {self.gap:.1f} points in {self.year}"
        if not self.significant:
            return f"{subject} went {span}: not a significant change."
        if self.both_gaps_significant and (self.previous_gap > 0) != (self.gap > 0):
            return f"{subject} reversed significantly, {span}."
        moved = "widened" if abs(self.gap) > abs(self.previous_gap) else "narrowed"
        return f"{subject} {moved} significantly, {span}."


def gap_change(previous: dict, current: dict, previous_year: str, year: str) -> GapChange | None:
    """From two rows of marts.satisfaction_gap; None unless both gaps were tested (published on
    at least the low-base threshold). The two years are independent samples; within a year the
    white and ethnic-minority groups are taken as independent, as the gap test itself does."""
    def gap_half(row: dict) -> float:
        return math.hypot((row["white_ci_high"] - row["white_ci_low"]) / 2,
                          (row["ethnic_minority_ci_high"] - row["ethnic_minority_ci_low"]) / 2)

    if any(r is None or r.get("suppressed") or r.get("gap_significant") is None or r.get("gap_pp") is None
           for r in (previous, current)):
        return None
    h = math.hypot(gap_half(previous), gap_half(current))
    return GapChange(previous_year, year, previous["gap_pp"], current["gap_pp"], h,
                     abs(current["gap_pp"] - previous["gap_pp"]) > h,
                     bool(previous["gap_significant"] and current["gap_significant"]))
