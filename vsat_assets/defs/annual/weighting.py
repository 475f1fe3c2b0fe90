"""Non-response weighting: respondents' design weights raked to the eligible frame's totals.

For one period and one survey the completed interviews' design weights are raked (iterative
proportional fitting) so that their sums match the number of eligible victims (sampled or not)
in the period's months with returns, on three margins. The periods: the general survey, each
financial year (marts.responses.calibrated_weight) and each rolling 12 months
(intermediate.rolling_weights); the domestic abuse survey, each month on its own, so a month,
a rolling quarter and the year all add up to their own frames. The margins:

* sampling stratum: strand x area (the domestic abuse survey: area);
* age band at report (18-29, 30-44, 45-59, 60+, UNKNOWN);
* ethnic group (WHITE, ETHNIC_MINORITY, NOT_STATED).

The records hold no sex (only a title), so sex is not a margin. A category with fewer
than ``min_cell`` respondents is pooled with the margin's other small categories (and,
if the pool is still small, into the largest category) so that no weight is asked to
carry a group nobody answered for.

The raking is bounded (trimming inside the raking, not after it): the adjustment g = w / d of
every respondent is kept within [``g_low``, ``g_high``] times its mean gbar = N / sum(d) (the frame
total over the design total, fixed before raking starts), and each margin in turn is met exactly
with units at a bound held there and the others carrying the remainder. Cycles over the margins
continue until every margin is within ``tolerance`` (relative) of its frame total, at most
``max_cycles`` times; ``cycles`` and ``converged`` say how it ended. Bounds relative to the mean
(not to 1) make both bounds matter whatever the response rate. docs/method.md, Trimming.

Weighting efficiency is Kish's (sum w)^2 / (n sum w^2): the share of the respondents'
information left after weighting.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from vsat_assets.warehouse import ensure_schemas, replace_window

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import numpy as np


MARGINS = ("stratum", "age_band", "ethnic_group")
POOLED = "POOLED"
WIDENINGS = 3  # bounds tried: the settings', then x2, x4, x8 wider, then none


@dataclass(frozen=True)
class WeightingSettings:
    min_cell: int = 5
    # Bounds on the adjustment g = w / d relative to its mean gbar = N / sum(d) (the frame total over
    # the design total, known before raking): every g stays in [g_low * gbar, g_high * gbar].
    g_low: float = 1 / 3
    g_high: float = 3.0
    tolerance: float = 1e-6  # largest relative gap between a weighted margin and its frame total
    max_cycles: int = 500  # raking cycles (one pass over every margin) before giving up


@dataclass(frozen=True)
class Calibration:
    weights: np.ndarray
    efficiency: float  # Kish efficiency of the calibrated weights
    design_efficiency: float  # of the design weights alone
    max_margin_error: float  # largest |weighted total - frame total| / frame total
    trimmed: int  # respondents whose weight ended at a trimming bound
    cycles: int = 0  # raking cycles used
    converged: bool = True  # margins within tolerance (the bounds always hold)
    g_bounds: tuple[float, float] = (0.0, math.inf)  # the bounds on g / gbar that were used
    widened: int = 0  # times the settings' bounds were widened to meet the margins


def kish_efficiency(weights: np.ndarray) -> float:
    import numpy as np
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (len(w) * (w * w).sum())) if len(w) and (w * w).sum() > 0 else 0.0


def _pool(labels: np.ndarray, totals: Mapping[str, float], min_cell: int) -> tuple[np.ndarray, dict[str, float]]:
    """Respondent labels and frame totals with small categories pooled."""
    import numpy as np
    counts = Counter(labels.tolist())
    small = {c for c in totals if counts.get(c, 0) < min_cell}
    if not small:
        return labels, dict(totals)
    pooled_n = sum(counts.get(c, 0) for c in small)
    target = POOLED
    if pooled_n < min_cell:  # still too few: put them with the largest category
        target = max((c for c in totals if c not in small), key=lambda c: counts.get(c, 0), default=POOLED)
    relabel = np.array([target if c in small else c for c in labels.tolist()], dtype=object)
    merged: dict[str, float] = {}
    for c, t in totals.items():
        key = target if c in small else c
        merged[key] = merged.get(key, 0.0) + t
    return relabel, {c: t for c, t in merged.items() if (relabel == c).any()}


def _fit_margin(design: np.ndarray, g: np.ndarray, codes: np.ndarray, target: np.ndarray,
                low: float, high: float) -> np.ndarray:
    """Scale g within each category so that the category's weighted total meets its target, with g
    kept in [low, high]: units at a bound stay there and the rest carry the remainder (the factor is
    found by fixed point, as clipping moves units onto a bound)."""
    import numpy as np
    k = len(target)
    factor = target / np.maximum(np.bincount(codes, design * g, k), 1e-300)
    for _ in range(100):
        scaled = g * factor[codes]
        bound = (scaled <= low) | (scaled >= high)
        clipped = np.clip(scaled, low, high)
        fixed = np.bincount(codes, design * clipped * bound, k)
        free = np.bincount(codes, design * g * ~bound, k)
        new = np.where(free > 0, np.maximum(target - fixed, 0.0) / np.maximum(free, 1e-300), factor)
        if np.allclose(new, factor, rtol=1e-13, atol=0.0):
            break
        factor = new
    return np.clip(g * factor[codes], low, high)


def _margin_error(weights: np.ndarray, codes: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray]) -> float:
    import numpy as np
    errors = [np.abs(np.bincount(codes[m], weights, len(t)) - t)[t > 0] / t[t > 0] for m, t in targets.items()]
    return float(max((e.max() for e in errors if len(e)), default=0.0))


def bounded_rake(design: np.ndarray, codes: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray],
                 settings: WeightingSettings) -> tuple[np.ndarray, int, bool, tuple[float, float]]:
    """Raking ratio (iterative proportional fitting) with the adjustment bounded: each margin in turn
    is met exactly with every g inside its bounds, cycling until all margins hold within tolerance.
    Returns (weights, cycles, converged, (low, high) bounds on g)."""
    import numpy as np
    total = float(next(iter(targets.values())).sum())
    mean_g = total / design.sum()
    low, high = settings.g_low * mean_g, settings.g_high * mean_g
    g = np.clip(np.ones(len(design)), low, high)
    for cycle in range(1, settings.max_cycles + 1):
        for margin, target in targets.items():
            g = _fit_margin(design, g, codes[margin], target, low, high)
        if _margin_error(design * g, codes, targets) <= settings.tolerance:
            return design * g, cycle, True, (low, high)
    return design * g, settings.max_cycles, False, (low, high)


def calibrate(
    design_weights: Sequence[float],
    respondents: Mapping[str, Sequence[str]],
    frame_totals: Mapping[str, Mapping[str, float]],
    settings: WeightingSettings = WeightingSettings(),
) -> Calibration:
    """Rake within bounds; ``respondents[margin]`` labels each respondent, ``frame_totals[margin]``
    gives the eligible victims per category. Every margin's totals must add to the same N."""
    import numpy as np

    design = np.asarray(design_weights, dtype=float)
    if len(design) == 0:
        return Calibration(design, 0.0, 0.0, 0.0, 0)
    codes, targets = {}, {}
    for name, totals in frame_totals.items():
        labels = np.asarray(respondents[name], dtype=object)
        missing = set(labels.tolist()) - set(totals)
        if missing:
            raise ValueError(f"respondents in {name} categories with no frame total: {sorted(missing)}")
        labels, pooled = _pool(labels, totals, settings.min_cell)
        index = {c: i for i, c in enumerate(sorted(pooled))}
        codes[name] = np.array([index[c] for c in labels.tolist()], dtype=np.int64)
        targets[name] = np.array([pooled[c] for c in sorted(pooled)], dtype=float)
    # Bounds no weights can meet (a category nearly nobody answered for) are widened, a factor of 2
    # each side at a time, then dropped: the margins are the method, the bounds a safeguard.
    ladder = [replace(settings, g_low=settings.g_low / 2 ** k, g_high=settings.g_high * 2 ** k)
              for k in range(WIDENINGS + 1)] + [replace(settings, g_low=0.0, g_high=math.inf)]
    cycles = 0
    for widened, step in enumerate(ladder):
        weights, used, converged, (low, high) = bounded_rake(design, codes, targets, step)
        cycles += used
        if converged:
            break
    g = weights / design
    trimmed = int(np.sum(np.isclose(g, low, rtol=1e-9) | np.isclose(g, high, rtol=1e-9)))
    return Calibration(weights, kish_efficiency(weights), kish_efficiency(design),
                       _margin_error(weights, codes, targets), trimmed, cycles, converged,
                       (step.g_low, step.g_high), widened)


# ------------------------------------------------------------------ the year's weights in the warehouse
SUMMARY_TABLE = "marts.weighting_summary"
SUMMARY_COLUMNS = (
    ("financial_year", "VARCHAR", "Financial year, '2025/26'."),
    ("year_start", "DATE", "First day of the financial year."),
    ("survey", "VARCHAR", "GENERAL (every strand but domestic abuse) or DOMESTIC_ABUSE."),
    ("margin", "VARCHAR", "ALL (the survey as a whole), or the weighting margin: stratum, age_band, ethnic_group."),
    ("category", "VARCHAR", "The margin's category (e.g. '18-29', 'ETHNIC_MINORITY', 'ASB|DARLINGTON'); ALL on ALL rows."),
    ("respondents", "BIGINT", "Completed interviews weighted (in the category)."),
    ("frame_victims", "BIGINT", "Eligible victims (sampled or not) the weights are raked to (in the category)."),
    ("frame_pct", "DOUBLE", "The category's share of the eligible victims, %."),
    ("design_pct", "DOUBLE", "Its share of the respondents weighted by design_weight, %: the profile before adjustment."),
    ("calibrated_pct", "DOUBLE", "Its share weighted by calibrated_weight, %: equal to frame_pct unless trimming or pooling stopped it."),
    ("design_efficiency", "DOUBLE", "Kish efficiency (sum w)^2 / (n sum w^2) of the design weights (ALL rows)."),
    ("weighting_efficiency", "DOUBLE", "Kish efficiency of the calibrated weights, 1 = no loss (ALL rows)."),
    ("trimmed", "BIGINT", "Respondents whose weight was trimmed to a bound (ALL rows)."),
    ("max_margin_error", "DOUBLE", "Largest relative gap between a weighted margin and its frame total (ALL rows)."),
)
AGE_BAND_SQL = """case
    when victim_age is null then 'UNKNOWN' when victim_age <= 29 then '18-29' when victim_age <= 44 then '30-44'
    when victim_age <= 59 then '45-59' else '60+' end"""
ETHNIC_GROUP_SQL = """case when victim_ethnicity = 'WHITE' then 'WHITE'
    when victim_ethnicity in ('MIXED', 'ASIAN', 'BLACK', 'OTHER') then 'ETHNIC_MINORITY' else 'NOT_STATED' end"""


def _profiles_sql(start: date, end: date) -> str:
    """The eligible frame (sampled or not) of [start, end) in the months with returns, one row per
    victim, with its month and the weighting margins."""
    return f"""
        select f.survey_id, f.survey_strand = 'DOMESTIC_ABUSE' as domestic_abuse, f.report_month,
               case when f.survey_strand = 'DOMESTIC_ABUSE' then f.policing_area
                    else f.survey_strand || '|' || f.policing_area end as stratum,
               {AGE_BAND_SQL} as age_band, {ETHNIC_GROUP_SQL} as ethnic_group
        from intermediate.sampling_frame f
        left join (select crime_reference, victim_person_id, victim_age from staging.stg_reports
                   where report_date >= DATE '{start}' and report_date < DATE '{end}') r
            using (crime_reference, victim_person_id)
        where f.selection in ('SAMPLED', 'NOT_SAMPLED')
          and f.report_month >= DATE '{start}' and f.report_month < DATE '{end}'
          -- only months whose returns are in: a period in progress is weighted to its months so far
          and f.report_month in (select distinct month_start from marts.responses
                                 where month_start >= DATE '{start}' and month_start < DATE '{end}')"""


@dataclass
class WeightingInput:
    """The frame's counts and the completed interviews of a span of months, both surveys."""
    frame: list[tuple]  # (domestic_abuse, month, stratum, age_band, ethnic_group, victims)
    respondents: list[tuple]  # (survey_id, design_weight, domestic_abuse, month, stratum, age_band, ethnic_group)

    @classmethod
    def read(cls, conn: duckdb.DuckDBPyConnection, start: date, end: date) -> WeightingInput:
        frame = conn.execute(f"""
            select domestic_abuse, report_month, stratum, age_band, ethnic_group, count(*)
            from ({_profiles_sql(start, end)}) group by all""").fetchall()
        respondents = conn.execute(f"""
            select r.survey_id, r.design_weight, p.domestic_abuse, p.report_month, p.stratum, p.age_band,
                   p.ethnic_group
            from marts.responses r join ({_profiles_sql(start, end)}) p using (survey_id)
            where r.outcome = 'COMPLETE' and r.month_start >= DATE '{start}' and r.month_start < DATE '{end}'
            order by r.survey_id""").fetchall()
        return cls(frame, respondents)

    def cell(self, domestic_abuse: bool, months: Callable[[date], bool]) -> tuple[list[tuple], dict]:
        """Respondents and frame totals per margin of one survey in the months `months` accepts."""
        rows = [r for r in self.respondents if r[2] is domestic_abuse and months(r[3])]
        totals: dict[str, dict[str, float]] = {m: {} for m in MARGINS}
        for is_da, month, stratum, age, ethnic, n in self.frame:
            if is_da is domestic_abuse and months(month):
                for margin, value in zip(MARGINS, (stratum, age, ethnic)):
                    totals[margin][value] = totals[margin].get(value, 0.0) + n
        return rows, totals


def _labels(rows: list[tuple]) -> dict[str, list[str]]:
    return {m: [r[4 + i] for r in rows] for i, m in enumerate(MARGINS)}


def _calibrate_rows(rows: list[tuple], totals: dict, settings: WeightingSettings) -> Calibration:
    return calibrate([r[1] for r in rows], _labels(rows), totals, settings)


def _survey_summary(financial_year: str, start: date, survey: str, rows: list[tuple], totals: dict,
                    weights: np.ndarray, results: list[Calibration]) -> list[dict]:
    """marts.weighting_summary rows of one survey's year: the ALL row, then each margin's categories."""
    import numpy as np
    frame_total = sum(totals["stratum"].values())
    summary = [{
        "financial_year": financial_year, "year_start": start, "survey": survey, "margin": "ALL",
        "category": "ALL", "respondents": len(rows), "frame_victims": int(frame_total), "frame_pct": 100.0,
        "design_pct": 100.0, "calibrated_pct": 100.0,
        "design_efficiency": kish_efficiency(np.array([r[1] for r in rows], dtype=float)),
        "weighting_efficiency": kish_efficiency(weights), "trimmed": sum(r.trimmed for r in results),
        "max_margin_error": max((r.max_margin_error for r in results), default=0.0),
    }]
    design = np.array([r[1] for r in rows], dtype=float)
    labels = _labels(rows)
    for margin in MARGINS:
        label = np.array(labels[margin], dtype=object)
        for category, n in sorted(totals[margin].items()):
            mask = label == category
            summary.append({
                "financial_year": financial_year, "year_start": start, "survey": survey, "margin": margin,
                "category": category, "respondents": int(mask.sum()), "frame_victims": int(n),
                "frame_pct": 100.0 * n / frame_total if frame_total else None,
                "design_pct": 100.0 * design[mask].sum() / design.sum() if len(rows) else None,
                "calibrated_pct": 100.0 * weights[mask].sum() / weights.sum() if len(rows) else None,
                "design_efficiency": None, "weighting_efficiency": None, "trimmed": None,
                "max_margin_error": None,
            })
    return summary


def _da_month_weights(data: WeightingInput, settings: WeightingSettings) -> tuple[dict[str, float], list[Calibration]]:
    """The domestic abuse survey's weights, each month raked to its own frame: survey_id -> weight."""
    months = sorted({month for is_da, month, *_ in data.frame if is_da})
    parts = [data.cell(True, lambda m, k=k: m == k) for k in months]
    results = [_calibrate_rows(rows, totals, settings) for rows, totals in parts]
    weights = {r[0]: float(w) for (rows, _), result in zip(parts, results) for r, w in zip(rows, result.weights)}
    return weights, results


def calibrate_da_months(conn: duckdb.DuckDBPyConnection, start: date, end: date,
                        settings: WeightingSettings = WeightingSettings()) -> list[Calibration]:
    """Set calibrated_weight of the domestic abuse interviews of the months in [start, end), each month
    raked to its own frame: the same weights calibrate_year writes for the year, so a month is weighted
    (and published) as soon as its returns are in. Run inside the transaction that writes the month's
    figures. Raises if an interview of those months is not in the frame (it could not be weighted)."""
    import pyarrow as pa

    weights, results = _da_month_weights(WeightingInput.read(conn, start, end), settings)
    new_weights = pa.table({"survey_id": list(weights), "w": list(weights.values())},
                           schema=pa.schema([("survey_id", pa.string()), ("w", pa.float64())]))
    conn.execute("""UPDATE marts.responses SET calibrated_weight = NULL
                    WHERE survey_strand = 'DOMESTIC_ABUSE' AND month_start >= ? AND month_start < ?""", [start, end])
    conn.execute("""UPDATE marts.responses SET calibrated_weight = new_weights.w FROM new_weights
                    WHERE marts.responses.survey_id = new_weights.survey_id""")
    missing = unweighted_interviews(conn, start, end, domestic_abuse_only=True)
    if missing:
        raise ValueError(f"{missing} domestic abuse interviews in {start}..{end} are not in "
                         "intermediate.sampling_frame and cannot be weighted: rebuild sampling_frame")
    return results


def calibrate_year(
    conn: duckdb.DuckDBPyConnection, financial_year: str, start: date, end: date,
    settings: WeightingSettings = WeightingSettings(),
) -> list[dict]:
    """Set marts.responses.calibrated_weight for the year's completed interviews and write the year's
    marts.weighting_summary rows, in one transaction. The general survey is raked over the year; the
    domestic abuse survey month by month (its figures are published per month and rolling quarter),
    so its weights add to each month's frame and so to the year's. Returns the summary rows (the ALL
    row first per survey, then each margin's)."""
    import numpy as np
    import pyarrow as pa

    data = WeightingInput.read(conn, start, end)
    weights, summary = [], []
    for survey, da in (("GENERAL", False), ("DOMESTIC_ABUSE", True)):
        rows, totals = data.cell(da, lambda m: True)
        if da:
            by_id, results = _da_month_weights(data, settings)
            calibrated = np.array([by_id[r[0]] for r in rows], dtype=float)
        else:
            results = [_calibrate_rows(rows, totals, settings)]
            calibrated = results[0].weights
        weights += [(r[0], float(w)) for r, w in zip(rows, calibrated)]
        summary += _survey_summary(financial_year, start, survey, rows, totals, calibrated, results)
    ensure_schemas(conn)
    names = ", ".join(n for n, _, _ in SUMMARY_COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {SUMMARY_TABLE} ({', '.join(f'{n} {t}' for n, t, _ in SUMMARY_COLUMNS)})")

    def write(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("""UPDATE marts.responses SET calibrated_weight = NULL
                     WHERE month_start >= ? AND month_start < ?""", [start, end])
        new_weights = pa.table({"survey_id": [w[0] for w in weights], "w": [w[1] for w in weights]},
                               schema=pa.schema([("survey_id", pa.string()), ("w", pa.float64())]))
        c.execute("""UPDATE marts.responses SET calibrated_weight = new_weights.w FROM new_weights
                     WHERE marts.responses.survey_id = new_weights.survey_id""")
        c.executemany(f"INSERT INTO {SUMMARY_TABLE} ({names}) VALUES ({', '.join('?' * len(SUMMARY_COLUMNS))})",
                      [[row[n] for n, _, _ in SUMMARY_COLUMNS] for row in summary])

    replace_window(conn, SUMMARY_TABLE, "year_start", start, end, write)
    return summary


# ------------------------------------------------------------------ rolling 12 months, each its own calibration
ROLLING_WEIGHTS_TABLE = "intermediate.rolling_weights"  # respondent-level: not in the published marts


def rolling_periods(conn: duckdb.DuckDBPyConnection) -> list[tuple[date, date]]:
    """(first month, last month) of each rolling period of the general survey: the 12 months to each
    quarter end from the first with returns to the last month with returns, cut at the first month."""
    first, last = conn.execute("""select min(month_start), max(month_start) from marts.responses
                                  where survey_strand <> 'DOMESTIC_ABUSE'""").fetchone()
    if first is None:
        return []

    def shift(d: date, months: int) -> date:
        k = d.year * 12 + d.month - 1 + months
        return date(k // 12, k % 12 + 1, 1)

    end = shift(date(first.year, 3 * ((first.month - 1) // 3) + 1, 1), 2)
    periods = []
    while end <= last:
        periods.append((max(first, shift(end, -11)), end))
        end = shift(end, 3)
    return periods


def calibrate_rolling(conn: duckdb.DuckDBPyConnection, settings: WeightingSettings = WeightingSettings()) -> int:
    """Rewrite intermediate.rolling_weights: for each rolling period, its general-survey respondents
    raked to the eligible victims of its own months with returns (not the two financial years'
    weights spliced). Call inside the transaction that rebuilds marts.satisfaction_rolling. Rows written."""
    import pyarrow as pa

    periods = rolling_periods(conn)
    out: dict[str, list] = {"period_start": [], "period_end": [], "survey_id": [], "rolling_weight": []}
    if periods:
        data = WeightingInput.read(conn, periods[0][0], date(periods[-1][1].year + 1, 1, 1))
        for first, last in periods:
            rows, totals = data.cell(False, lambda m: first <= m <= last)
            result = _calibrate_rows(rows, totals, settings)
            out["period_start"] += [first] * len(rows)
            out["period_end"] += [last] * len(rows)
            out["survey_id"] += [r[0] for r in rows]
            out["rolling_weight"] += [float(w) for w in result.weights]
    new_weights = pa.table(out, schema=pa.schema([("period_start", pa.date32()), ("period_end", pa.date32()),
                                                  ("survey_id", pa.string()), ("rolling_weight", pa.float64())]))
    ensure_schemas(conn)
    conn.execute(f"CREATE OR REPLACE TABLE {ROLLING_WEIGHTS_TABLE} AS SELECT * FROM new_weights")
    return len(new_weights)


def unweighted_interviews(conn: duckdb.DuckDBPyConnection, start: date, end: date,
                          domestic_abuse_only: bool = False) -> int:
    """Completed interviews in [start, end) without a calibrated weight (their year is not weighted yet)."""
    only = "AND survey_strand = 'DOMESTIC_ABUSE'" if domestic_abuse_only else ""
    return conn.execute(f"""SELECT count(*) FROM marts.responses WHERE outcome = 'COMPLETE' {only}
                            AND calibrated_weight IS NULL AND month_start >= ? AND month_start < ?""",
                        [start, end]).fetchall()[0][0]
