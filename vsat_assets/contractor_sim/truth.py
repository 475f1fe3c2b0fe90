"""The planted truth the contractor stand-in answers from: who is satisfied, who responds.

A victim's log-odds of being satisfied with question q is

    b_q + strand + area + age band + ethnic group + year(q)

(the intercept b_q is solved so that, in the reference year and over a typical mix of
victims, the satisfied share equals Durham's published figure). Their log-odds of
completing an interview is

    c_strand + age band + ethnic group + gamma * mood

where ``mood`` is the same standard-normal latent that drives their answers: happier
victims respond more (gamma > 0 makes non-response depend on satisfaction itself).

Everything here works on numpy arrays so that the contractor stand-in and the
validation harness (scripts/validate.py) draw from one model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

import numpy as np

from vsat_assets.vocabulary import ETHNIC_GROUPS, QUESTIONS

AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
UNKNOWN = "UNKNOWN"
_MINORITIES = frozenset({"MIXED", "ASIAN", "BLACK", "OTHER"})


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN
    for band, upper in zip(AGE_BANDS, (29, 44, 59)):
        if age <= upper:
            return band
    return AGE_BANDS[-1]


def ethnic_group(ethnicity: str | None) -> str:
    if ethnicity == "WHITE":
        return "WHITE"
    return "ETHNIC_MINORITY" if ethnicity in _MINORITIES else "NOT_STATED"


def financial_year_start(day: date) -> int:
    """2025 for any day from April 2025 to March 2026."""
    return day.year if day.month >= 4 else day.year - 1


def _d(**kw: float) -> dict[str, float]:
    return dict(kw)


@dataclass(frozen=True)
class Truth:
    """Planted effects (log-odds). Defaults: Durham's published results in 2025/26, a real
    rise in kept_informed and whole_experience since 2024/25, a real ethnic-minority gap,
    and younger and ethnic-minority victims (and the dissatisfied) responding less."""

    reference_year: int = 2025
    satisfaction_targets: Mapping[str, float] = field(default_factory=lambda: _d(
        ease_of_contact=0.96, actions_taken=0.85, kept_informed=0.78, treatment=0.93, whole_experience=0.82))
    strand: Mapping[str, float] = field(default_factory=lambda: _d(
        BURGLARY=0.45, VEHICLE=0.35, VIOLENCE=0.0, CRIMINAL_DAMAGE=0.10, HARASSMENT=-0.30,
        FRAUD=-0.10, HATE=-0.15, ASB=-0.25, DOMESTIC_ABUSE=0.20))
    area: Mapping[str, float] = field(default_factory=lambda: _d(
        NORTH_DURHAM=0.10, EAST_DURHAM=-0.12, SOUTH_DURHAM=0.0, DARLINGTON=0.06))
    age: Mapping[str, float] = field(default_factory=lambda: {
        "18-29": -0.35, "30-44": -0.15, "45-59": 0.05, "60+": 0.35})
    ethnic: Mapping[str, float] = field(default_factory=lambda: _d(ETHNIC_MINORITY=-0.5))
    # Year (financial year start) -> question -> shift against the reference year.
    year: Mapping[int, Mapping[str, float]] = field(default_factory=lambda: {
        2024: _d(kept_informed=-0.40, whole_experience=-0.40)})
    # Response (completed interview) model.
    complete_share: float = 0.50
    strand_response: Mapping[str, float] = field(default_factory=lambda: _d(
        BURGLARY=0.16, VEHICLE=0.08, VIOLENCE=-0.12, CRIMINAL_DAMAGE=0.04, HARASSMENT=-0.08,
        FRAUD=0.04, HATE=-0.08, ASB=0.0, DOMESTIC_ABUSE=-0.2))
    age_response: Mapping[str, float] = field(default_factory=lambda: {
        "18-29": -0.8, "30-44": -0.3, "45-59": 0.1, "60+": 0.6})
    ethnic_response: Mapping[str, float] = field(default_factory=lambda: _d(ETHNIC_MINORITY=-0.5, NOT_STATED=-0.3))
    mood_response: float = 0.10
    # Mix of a typical general-survey frame, for the intercepts only.
    typical_strand_mix: Mapping[str, float] = field(default_factory=lambda: _d(
        ASB=0.40, VIOLENCE=0.10, CRIMINAL_DAMAGE=0.06, BURGLARY=0.05, VEHICLE=0.04,
        HARASSMENT=0.04, FRAUD=0.02, HATE=0.01))
    typical_age_mix: Mapping[str, float] = field(default_factory=lambda: {
        "18-29": 0.28, "30-44": 0.30, "45-59": 0.24, "60+": 0.18})
    typical_ethnic_mix: Mapping[str, float] = field(default_factory=lambda: _d(
        WHITE=0.88, ETHNIC_MINORITY=0.075, NOT_STATED=0.045))

    def centred(self) -> dict[str, dict]:
        """Each effect table minus its mean over the typical mix, so an unknown profile
        (area, age band or ethnic group '') gets the average effect, 0."""
        return {
            "area": _centred(self.area, {}), "age": _centred(self.age, self.typical_age_mix),
            "ethnic": _centred(self.ethnic, self.typical_ethnic_mix),
            "age_response": _centred(self.age_response, self.typical_age_mix),
            "ethnic_response": _centred(self.ethnic_response, self.typical_ethnic_mix),
        }

    def _typical(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, satisfaction offsets, response offsets) over the typical strand x age x ethnic mix."""
        c, rows = self.centred(), []
        for s, ws in self.typical_strand_mix.items():
            for a, wa in self.typical_age_mix.items():
                for e, we in self.typical_ethnic_mix.items():
                    rows.append((ws * wa * we, self.strand.get(s, 0.0) + c["age"][a] + c["ethnic"].get(e, 0.0),
                                 c["age_response"][a] + c["ethnic_response"].get(e, 0.0)))
        weights, satisfaction, response = np.array(rows, dtype=np.float64).T
        return weights / weights.sum(), satisfaction, response

    def intercept(self, question: str) -> float:
        """b_q, so the reference year's typical satisfied share of `question` is the target."""
        weights, offsets, _ = self._typical()
        return _solve(weights, offsets, self.satisfaction_targets[question])

    def intercepts(self) -> dict[str, float]:
        """question -> b_q (`intercept`)."""
        return {q: self.intercept(q) for q in QUESTIONS}

    def response_intercept(self) -> float:
        weights, _, offsets = self._typical()
        return _solve(weights, offsets, self.complete_share)

    def satisfaction_logit(self, question: str, strands, areas, ages, ethnic, years) -> np.ndarray:
        b = self.intercept(question)
        shift = {y: q.get(question, 0.0) for y, q in self.year.items()}
        c = self.centred()
        return (b + _lookup(strands, self.strand) + _lookup(areas, c["area"]) + _lookup(ages, c["age"])
                + _lookup(ethnic, c["ethnic"]) + _lookup(years, shift))

    def response_probability(self, strands, ages, ethnic, mood: np.ndarray) -> np.ndarray:
        c = self.centred()
        logit = (self.response_intercept() + _lookup(strands, self.strand_response) + _lookup(ages, c["age_response"])
                 + _lookup(ethnic, c["ethnic_response"]) + self.mood_response * mood)
        return expit(logit)


def expit(x):
    """The logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-x))


def _solve(weights: np.ndarray, offsets: np.ndarray, target: float) -> float:
    """The b at which the weighted mean of expit(b + offsets) is `target` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        mean = float(weights @ expit(mid + offsets))
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return (lo + hi) / 2


def _centred(table: Mapping[str, float], mix: Mapping[str, float]) -> dict[str, float]:
    weights = {k: mix.get(k, 0.0) for k in set(table) | set(mix)} if mix else dict.fromkeys(table, 1.0)
    total = sum(weights.values()) or 1.0
    mean = sum(table.get(k, 0.0) * w for k, w in weights.items()) / total
    return {k: table.get(k, 0.0) - mean for k in weights}


def _lookup(values, table: Mapping) -> np.ndarray:
    return np.array([table.get(v, 0.0) for v in np.asarray(values).tolist()], dtype=np.float64)
