"""Non-response weighting: respondents' design weights raked to the eligible frame's totals.

For one financial year and one survey (general, or domestic abuse), the completed
interviews' design weights are raked (iterative proportional fitting, samplics'
``SampleWeight.rake``) so that their sums match the number of eligible victims
(sampled or not) on three margins:

* sampling stratum: strand x area (the domestic abuse survey: area);
* age band at report (18-29, 30-44, 45-59, 60+, UNKNOWN);
* ethnic group (WHITE, ETHNIC_MINORITY, NOT_STATED).

The records hold no sex (only a title), so sex is not a margin. A category with fewer
than ``min_cell`` respondents is pooled with the margin's other small categories (and,
if the pool is still small, into the largest category) so that no weight is asked to
carry a group nobody answered for. The weights are then trimmed: the ratio of
calibrated to design weight is kept within [``g_min``, ``g_max``], re-raking after each
trim (at most ``trim_rounds`` times); the last step is the trim, so the bounds always
hold and the margins are met to within what trimming allows (reported as
``max_margin_error``).

Weighting efficiency is Kish's (sum w)^2 / (n sum w^2): the share of the respondents'
information left after weighting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Mapping, Sequence

from vsat_assets.warehouse import ensure_schemas, replace_window

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import numpy as np


MARGINS = ("stratum", "age_band", "ethnic_group")
POOLED = "POOLED"


@dataclass(frozen=True)
class WeightingSettings:
    min_cell: int = 5
    g_min: float = 0.3
    g_max: float = 3.5
    trim_rounds: int = 10


@dataclass(frozen=True)
class Calibration:
    weights: np.ndarray
    efficiency: float  # Kish efficiency of the calibrated weights
    design_efficiency: float  # of the design weights alone
    max_margin_error: float  # largest |weighted total - frame total| / frame total
    trimmed: int  # respondents whose weight ended at a trimming bound


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


def calibrate(
    design_weights: Sequence[float],
    respondents: Mapping[str, Sequence[str]],
    frame_totals: Mapping[str, Mapping[str, float]],
    settings: WeightingSettings = WeightingSettings(),
) -> Calibration:
    """Rake and trim; ``respondents[margin]`` labels each respondent, ``frame_totals[margin]``
    gives the eligible victims per category. Every margin's totals must add to the same N."""
    import numpy as np
    import warnings

    with warnings.catch_warnings():  # samplics 0.6 announces its successor (svy) on import
        warnings.simplefilter("ignore", FutureWarning)
        from samplics.weighting import SampleWeight  # heavy: only when weights are computed

    design = np.asarray(design_weights, dtype=float)
    if len(design) == 0:
        return Calibration(design, 0.0, 0.0, 0.0, 0)
    margins, controls = {}, {}
    for name, totals in frame_totals.items():
        labels = np.asarray(respondents[name], dtype=object)
        missing = set(labels.tolist()) - set(totals)
        if missing:
            raise ValueError(f"respondents in {name} categories with no frame total: {sorted(missing)}")
        labels, pooled = _pool(labels, totals, settings.min_cell)
        # integer codes: samplics sorts and compares labels on every pass, far faster on ints
        codes = {c: i for i, c in enumerate(sorted(pooled))}
        margins[name] = np.array([codes[c] for c in labels.tolist()], dtype=np.int64)
        controls[name] = {codes[c]: t for c, t in pooled.items()}
    weights = design.copy()
    low, high = settings.g_min * design, settings.g_max * design
    for _ in range(settings.trim_rounds):
        weights = SampleWeight().rake(samp_weight=weights, margins=margins, control=controls, max_iter=200)
        clipped = np.clip(weights, low, high)
        done = np.allclose(clipped, weights, rtol=1e-9)
        weights = clipped
        if done:
            break
    error = max(
        abs(weights[margins[m] == c].sum() - t) / t
        for m in margins for c, t in controls[m].items() if t > 0
    )
    trimmed = int(np.sum(np.isclose(weights, low) | np.isclose(weights, high)))
    return Calibration(weights, kish_efficiency(weights), kish_efficiency(design), float(error), trimmed)


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
    """The year's eligible frame (sampled or not) in the months with returns, one row per victim,
    with the weighting margins."""
    return f"""
        select f.survey_id, f.survey_strand = 'DOMESTIC_ABUSE' as domestic_abuse,
               case when f.survey_strand = 'DOMESTIC_ABUSE' then f.policing_area
                    else f.survey_strand || '|' || f.policing_area end as stratum,
               {AGE_BAND_SQL} as age_band, {ETHNIC_GROUP_SQL} as ethnic_group
        from intermediate.sampling_frame f
        left join (select crime_reference, victim_person_id, victim_age from staging.stg_reports
                   where report_date >= DATE '{start}' and report_date < DATE '{end}') r
            using (crime_reference, victim_person_id)
        where f.selection in ('SAMPLED', 'NOT_SAMPLED')
          and f.report_month >= DATE '{start}' and f.report_month < DATE '{end}'
          -- only months whose returns are in: a year in progress is weighted to its months so far
          and f.report_month in (select distinct month_start from marts.responses
                                 where month_start >= DATE '{start}' and month_start < DATE '{end}')"""


def calibrate_year(
    conn: duckdb.DuckDBPyConnection, financial_year: str, start: date, end: date,
    settings: WeightingSettings = WeightingSettings(),
) -> list[dict]:
    """Set marts.responses.calibrated_weight for the year's completed interviews (general survey
    and domestic abuse survey raked separately) and write the year's marts.weighting_summary rows,
    in one transaction. Returns the summary rows (the ALL rows first per survey, then each margin's)."""
    import numpy as np
    import pyarrow as pa

    frame = conn.execute(f"""
        select domestic_abuse, stratum, age_band, ethnic_group, count(*) from ({_profiles_sql(start, end)})
        group by all""").fetchall()
    respondents = conn.execute(f"""
        select r.survey_id, r.design_weight, p.domestic_abuse, p.stratum, p.age_band, p.ethnic_group
        from marts.responses r join ({_profiles_sql(start, end)}) p using (survey_id)
        where r.outcome = 'COMPLETE' and r.month_start >= DATE '{start}' and r.month_start < DATE '{end}'
        order by r.survey_id""").fetchall()
    weights, summary = [], []
    for survey, da in (("GENERAL", False), ("DOMESTIC_ABUSE", True)):
        rows = [r for r in respondents if r[2] is da]
        totals: dict[str, dict[str, float]] = {m: {} for m in MARGINS}
        for is_da, stratum, age, ethnic, n in frame:
            if is_da is da:
                for margin, value in zip(MARGINS, (stratum, age, ethnic)):
                    totals[margin][value] = totals[margin].get(value, 0.0) + n
        labels = {m: [r[3 + i] for r in rows] for i, m in enumerate(MARGINS)}
        result = calibrate([r[1] for r in rows], labels, totals, settings)
        weights += [(r[0], float(w)) for r, w in zip(rows, result.weights)]
        frame_total = sum(totals["stratum"].values())
        summary.append({
            "financial_year": financial_year, "year_start": start, "survey": survey, "margin": "ALL",
            "category": "ALL", "respondents": len(rows), "frame_victims": int(frame_total), "frame_pct": 100.0,
            "design_pct": 100.0, "calibrated_pct": 100.0, "design_efficiency": result.design_efficiency,
            "weighting_efficiency": result.efficiency, "trimmed": result.trimmed,
            "max_margin_error": result.max_margin_error,
        })
        design = np.array([r[1] for r in rows], dtype=float)
        for margin in MARGINS:
            label = np.array(labels[margin], dtype=object)
            for category, n in sorted(totals[margin].items()):
                mask = label == category
                summary.append({
                    "financial_year": financial_year, "year_start": start, "survey": survey, "margin": margin,
                    "category": category, "respondents": int(mask.sum()), "frame_victims": int(n),
                    "frame_pct": 100.0 * n / frame_total if frame_total else None,
                    "design_pct": 100.0 * design[mask].sum() / design.sum() if len(rows) else None,
                    "calibrated_pct": 100.0 * result.weights[mask].sum() / result.weights.sum() if len(rows) else None,
                    "design_efficiency": None, "weighting_efficiency": None, "trimmed": None,
                    "max_margin_error": None,
                })
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


def unweighted_interviews(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> int:
    """Completed interviews in [start, end) without a calibrated weight (their year is not weighted yet)."""
    return conn.execute("""SELECT count(*) FROM marts.responses WHERE outcome = 'COMPLETE'
                           AND calibrated_weight IS NULL AND month_start >= ? AND month_start < ?""",
                        [start, end]).fetchall()[0][0]
