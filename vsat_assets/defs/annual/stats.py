"""Satisfaction estimates for one cell (question x strand x area x period).

Method (state this in the README):

* Base: valid answers only, codes 1-7. Codes 8 (don't know), 9 (not
  applicable) and blanks (None) are left out of the base and the count.
* Satisfied: codes 1-3. Weighted proportion p = sum(w * satisfied) / sum(w)
  over the valid answers, w being the design weight.
* 95% interval: Wilson score interval with n replaced by the Kish effective
  sample size of the valid answers, n_eff = (sum w)^2 / sum(w^2).
* Change between periods is significant when |difference| exceeds
  sqrt(h1^2 + h2^2), h being each interval's half-width (ci_high - ci_low) / 2
  (the Scottish Crime and Justice Survey rule).
* Disclosure control: fewer than ``low_base_threshold`` (50) respondents is
  flagged low base; fewer than ``suppress_threshold`` (10) suppresses the
  percentage and interval.

``satisfaction_sql_expressions`` gives the same formulas as DuckDB aggregate
expressions so a whole annual table can be computed in one GROUP BY.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

Z95 = 1.959964
VALID_CODES = frozenset(range(1, 8))
SATISFIED_CODES = frozenset({1, 2, 3})
COMPLETELY_OR_VERY_CODES = frozenset({1, 2})
_KNOWN_CODES = frozenset(range(1, 10))


@dataclass(frozen=True)
class Estimate:
    respondents: int  # unweighted count of valid answers (codes 1-7)
    satisfied_pct: float | None  # weighted share of codes 1-3, percent
    ci_low: float | None  # 95% interval, percent
    ci_high: float | None
    effective_n: float | None  # Kish effective sample size of the base
    low_base: bool
    suppressed: bool


def kish_effective_n(weights: Sequence[float]) -> float:
    """Kish effective sample size (sum w)^2 / sum(w^2); 0.0 for no weight."""
    ws = [float(w) for w in weights]
    sum_sq = math.fsum(w * w for w in ws)
    if sum_sq == 0:
        return 0.0
    total = math.fsum(ws)
    return total * total / sum_sq


def wilson_interval(p: float, n_eff: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for proportion ``p`` (0..1) on ``n_eff`` cases.

    Using the Kish effective sample size for n widens the interval by the
    design effect of unequal weights (n_eff < n whenever weights vary); with
    equal weights n_eff equals the respondent count and this is the textbook
    Wilson interval. Wilson rather than Wald keeps the bounds inside [0, 1]
    and behaves sensibly near 0% and 100%, where satisfaction often sits.
    Returns proportions, clamped so that 0 <= low <= p <= high <= 1 despite
    rounding error.
    """
    if n_eff <= 0:
        raise ValueError(f"n_eff must be positive, got {n_eff}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a proportion in [0, 1], got {p}")
    z2 = z * z
    denom = 1.0 + z2 / n_eff
    centre = (p + z2 / (2.0 * n_eff)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n_eff + z2 / (4.0 * n_eff * n_eff)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def normal_half_width(p: float, n: float, z: float = Z95) -> float:
    """Textbook (Wald) half-width z*sqrt(p(1-p)/n), in percentage points.

    ``p`` is a proportion (0..1), as for ``wilson_interval``.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return 100.0 * z * math.sqrt(p * (1.0 - p) / n)


def _valid_base(
    codes: Sequence[int | None], weights: Sequence[float]
) -> list[tuple[int, float]]:
    """(code, weight) pairs for valid answers; checks codes and weights."""
    if len(codes) != len(weights):
        raise ValueError(f"{len(codes)} codes but {len(weights)} weights")
    base = []
    for code, weight in zip(codes, weights):
        if code is None:
            continue
        if code not in _KNOWN_CODES:
            raise ValueError(f"unknown answer code {code!r}")
        if code not in VALID_CODES:
            continue
        w = float(weight)
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"weight must be finite and non-negative, got {weight!r}")
        base.append((code, w))
    return base


def _weighted_share(base: list[tuple[int, float]], wanted: frozenset[int]) -> float | None:
    total = math.fsum(w for _, w in base)
    if total == 0:
        return None
    hit = math.fsum(w for c, w in base if c in wanted)
    return min(1.0, hit / total)


def estimate(
    codes: Sequence[int | None],
    weights: Sequence[float],
    *,
    low_base_threshold: int = 50,
    suppress_threshold: int = 10,
    z: float = Z95,
) -> Estimate:
    """Weighted satisfied share with a Kish-adjusted Wilson 95% interval.

    ``codes`` and ``weights`` are parallel (one entry per interview). The
    effective n is reported even when suppressed: it reveals nothing the
    respondent count does not.
    """
    base = _valid_base(codes, weights)
    respondents = len(base)
    low_base = respondents < low_base_threshold
    suppressed = respondents < suppress_threshold
    n_eff = kish_effective_n([w for _, w in base]) or None
    p = _weighted_share(base, SATISFIED_CODES)
    if suppressed or p is None or n_eff is None:
        return Estimate(respondents, None, None, None, n_eff, low_base, suppressed)
    low, high = wilson_interval(p, n_eff, z)
    return Estimate(respondents, 100.0 * p, 100.0 * low, 100.0 * high, n_eff, low_base, suppressed)


def share_completely_or_very(
    codes: Sequence[int | None], weights: Sequence[float]
) -> float | None:
    """Weighted share of codes 1-2 among valid answers, percent (no suppression)."""
    p = _weighted_share(_valid_base(codes, weights), COMPLETELY_OR_VERY_CODES)
    return None if p is None else 100.0 * p


def change(current: Estimate, previous: Estimate) -> tuple[float | None, bool | None]:
    """(current - previous in percentage points, significant?).

    Significant when |difference| > sqrt(h1^2 + h2^2), h = (ci_high - ci_low)/2.
    (None, None) when either side has no published estimate.
    """
    sides = (current, previous)
    if any(
        e.suppressed or e.satisfied_pct is None or e.ci_low is None or e.ci_high is None
        for e in sides
    ):
        return None, None
    diff = current.satisfied_pct - previous.satisfied_pct
    h1, h2 = ((e.ci_high - e.ci_low) / 2.0 for e in sides)
    return diff, abs(diff) > math.sqrt(h1 * h1 + h2 * h2)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def satisfaction_sql_expressions(
    code: str = "code",
    weight: str = "design_weight",
    *,
    low_base_threshold: int = 50,
    suppress_threshold: int = 10,
    z: float = Z95,
) -> dict[str, str]:
    """DuckDB aggregate expressions matching ``estimate()``, keyed by output column.

    Use inside one GROUP BY over a long table (one row per interview x question):

        SELECT financial_year, question, {select_list}
        FROM answers GROUP BY ALL

    where ``select_list`` is ``satisfaction_sql_select(...)``. Percentages,
    bounds and effective_n come out NULL where ``estimate()`` gives None.
    Unlike ``estimate()``, which raises on codes outside 1-9, SQL silently
    leaves any code outside 1-7 out of the base.
    """
    for name in (code, weight):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain column name: {name!r}")
    w = f"CAST({weight} AS DOUBLE)"
    valid = f"{code} BETWEEN 1 AND 7"
    n = f"count(*) FILTER (WHERE {valid})"
    sum_w = f"sum({w}) FILTER (WHERE {valid})"
    sum_w2 = f"sum({w} * {w}) FILTER (WHERE {valid})"
    sum_w_sat = f"coalesce(sum({w}) FILTER (WHERE {code} BETWEEN 1 AND 3), 0.0)"
    p = f"least(1.0, {sum_w_sat} / nullif({sum_w}, 0.0))"
    n_eff = f"({sum_w} * {sum_w} / nullif({sum_w2}, 0.0))"
    z2 = repr(float(z * z))
    denom = f"(1.0 + {z2} / {n_eff})"
    centre = f"(({p} + {z2} / (2.0 * {n_eff})) / {denom})"
    half = (
        f"({z!r} * sqrt({p} * (1.0 - {p}) / {n_eff}"
        f" + {z2} / (4.0 * {n_eff} * {n_eff})) / {denom})"
    )
    # least/greatest skip NULLs in DuckDB, so guard on a usable base up front
    # rather than relying on NULL propagation (sum_w2 > 0 implies sum_w > 0).
    shown = f"{n} >= {int(suppress_threshold)} AND {sum_w2} > 0.0"

    def published(expr: str) -> str:
        return f"CASE WHEN {shown} THEN 100.0 * ({expr}) END"

    return {
        "respondents": n,
        "satisfied_pct": published(p),
        "ci_low": published(f"greatest(0.0, least({p}, {centre} - {half}))"),
        "ci_high": published(f"least(1.0, greatest({p}, {centre} + {half}))"),
        "effective_n": n_eff,
        "low_base": f"({n} < {int(low_base_threshold)})",
        "suppressed": f"({n} < {int(suppress_threshold)})",
    }


def satisfaction_sql_select(*args, **kwargs) -> str:
    """``satisfaction_sql_expressions`` as a ready SELECT list ("expr AS col, ...")."""
    exprs = satisfaction_sql_expressions(*args, **kwargs)
    return ",\n    ".join(f"{expr} AS {col}" for col, expr in exprs.items())
