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

``satisfaction_sql_expressions`` gives these formulas as DuckDB aggregate
expressions, so a whole table is computed in one GROUP BY (the annual report's cells).
"""

from __future__ import annotations

import re

Z95 = 1.959964

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def satisfaction_sql_expressions(
    code: str = "code",
    weight: str = "design_weight",
    *,
    low_base_threshold: int = 50,
    suppress_threshold: int = 10,
    z: float = Z95,
) -> dict[str, str]:
    """DuckDB aggregate expressions for the method above, keyed by output column.

    Use inside one GROUP BY over a long table (one row per interview x question):

        SELECT financial_year, question, {select_list}
        FROM answers GROUP BY ALL

    where ``select_list`` is ``satisfaction_sql_select(...)``. Percentages and
    bounds are NULL for a suppressed cell or one without a valid answer; any code
    outside 1-7 is left out of the base.
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
