"""Proof by simulation: replicate survey years drawn from a planted truth, run through the estimator.

One replicate is two financial years (2024/25 and 2025/26). Each year:

1. an eligible frame of victims (strand, area, age band, ethnic group) at Durham's volume;
2. every victim's answers drawn from the truth (the contractor stand-in's own model), so the
   frame's true satisfied share is known exactly (the estimand: what every eligible victim
   would have said);
3. a stratified 15% sample (strand x area), design weight eligible / sampled;
4. outcomes drawn from the truth's response model (by profile, and by mood if planted);
5. the platform's estimator: calibration (weighting.calibrate, the same margins as the
   pipeline), then the annual and gap SQL with secondary suppression and significance
   (tables + disclosure), on an in-memory DuckDB holding marts.responses.

The Dagster pipeline is not run: sampling is per year rather than per month, which is the
same stratified design collapsed over months.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from vsat_assets.defs.annual import disclosure, tables, weighting
from vsat_assets.contractor_sim.simulate import ContractorSettings, draw_answers, draw_outcomes
from vsat_assets.contractor_sim.truth import QUESTIONS, Truth
from vsat_assets.vocabulary import POLICING_AREAS

AREAS = POLICING_AREAS
YEARS = (2024, 2025)
THRESHOLDS = tables.Thresholds()


@dataclass(frozen=True)
class Scenario:
    truth: Truth = field(default_factory=Truth)
    frame_per_year: int = 34_000  # eligible general-survey victims a year (make demo: about 34,000)
    sample_rate: float = 0.15


def _frame(rng: np.random.Generator, scenario: Scenario, year: int) -> dict[str, np.ndarray]:
    truth, n = scenario.truth, scenario.frame_per_year

    def pick(mix: dict, size: int) -> np.ndarray:
        names = list(mix)
        p = np.array([mix[k] for k in names], dtype=float)
        return np.array(names, dtype=object)[rng.choice(len(names), size, p=p / p.sum())]

    area_p = 1 / (1 + 0.15 * np.arange(len(AREAS)))
    return {
        "key": rng.integers(0, 2**63, n, dtype=np.uint64),
        "strand": pick(dict(truth.typical_strand_mix), n),
        "area": pick(dict(zip(AREAS, area_p)), n),
        "age_band": pick(dict(truth.typical_age_mix), n),
        "ethnic_group": pick(dict(truth.typical_ethnic_mix), n),
        "year": np.full(n, year),
    }


def _sample(rng: np.random.Generator, frame: dict, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices sampled and their design weights (stratified by strand x area)."""
    stratum = np.char.add(frame["strand"].astype(str), np.char.add("|", frame["area"].astype(str)))
    picked, weights = [], []
    for h in np.unique(stratum):
        members = np.flatnonzero(stratum == h)
        k = max(1, int(round(rate * len(members))))
        chosen = rng.choice(members, k, replace=False)
        picked.append(chosen)
        weights.append(np.full(k, len(members) / k))
    return np.concatenate(picked), np.concatenate(weights)


def _true_shares(answers: dict, frame: dict) -> dict:
    """question -> cell (strand, area) or ('ALL', ...) -> true satisfied %, and the true gap."""
    out = {}
    for q in QUESTIONS:
        code = answers[q]
        valid, sat = code <= 7, code <= 3
        cells = {("ALL", "ALL"): np.ones(len(code), bool)}
        cells |= {(s, "ALL"): frame["strand"] == s for s in np.unique(frame["strand"])}
        cells |= {("ALL", a): frame["area"] == a for a in np.unique(frame["area"])}
        out[q] = {c: 100 * (sat & m).sum() / (valid & m).sum() for c, m in cells.items()}
        groups = {g: frame["ethnic_group"] == g for g in ("WHITE", "ETHNIC_MINORITY")}
        shares = {g: 100 * (sat & m).sum() / (valid & m).sum() for g, m in groups.items()}
        out[q]["gap"] = shares["WHITE"] - shares["ETHNIC_MINORITY"]
    return out


_RESPONSES_DDL = f"""CREATE TABLE marts.responses (survey_id VARCHAR, financial_year VARCHAR, month VARCHAR,
    month_start DATE, survey_strand VARCHAR, area VARCHAR, design_weight DOUBLE, calibrated_weight DOUBLE,
    outcome VARCHAR, {", ".join(f"{q} INTEGER" for q in QUESTIONS)}, ethnic_group VARCHAR, force_code VARCHAR)"""


def _respondents(rng: np.random.Generator, frame: dict, scenario: Scenario, settings: ContractorSettings):
    """Sample the frame, draw outcomes: (sampled indices, design weights, completed mask, the
    respondents' margin labels, the frame's margin totals)."""
    index, design = _sample(rng, frame, scenario.sample_rate)
    sub = {k: v[index] for k, v in frame.items()}
    done = draw_outcomes(sub["key"], sub["strand"], sub, settings) == "COMPLETE"
    stratum = np.char.add(frame["strand"].astype(str), np.char.add("|", frame["area"].astype(str)))
    totals = {m: {k: float(v) for k, v in zip(*np.unique(values, return_counts=True))} for m, values in
              (("stratum", stratum), ("age_band", frame["age_band"]), ("ethnic_group", frame["ethnic_group"]))}
    labels = {"stratum": stratum[index][done], "age_band": sub["age_band"][done],
              "ethnic_group": sub["ethnic_group"][done]}
    return index, design, done, labels, totals


def calibration_problem(seed: int, scenario: Scenario = Scenario(), year: int = 2025):
    """One year's weighting input at Durham's volume from the planted truth: (design weights of the
    respondents, their margin labels, the frame totals), as weighting.calibrate takes them."""
    rng = np.random.default_rng(seed)
    settings = replace(ContractorSettings(), truth=scenario.truth)
    _, design, done, labels, totals = _respondents(rng, _frame(rng, scenario, year), scenario, settings)
    return design[done], labels, totals


def run_replicate(seed: int, scenario: Scenario) -> dict:
    """One replicate: per year the truth, and the published cells (calibrated and design-only)."""
    rng = np.random.default_rng(seed)
    settings = replace(ContractorSettings(), truth=scenario.truth)
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    conn.execute(_RESPONSES_DDL)
    truths = {}
    for year in YEARS:
        frame = _frame(rng, scenario, year)
        answers = draw_answers(frame["key"], frame["strand"], frame, frame["year"], settings)
        truths[year] = _true_shares(answers, frame)
        index, design, done, labels, totals = _respondents(rng, frame, scenario, settings)
        calibrated = weighting.calibrate(design[done], labels, totals).weights
        fy = f"{year}/{(year + 1) % 100:02d}"
        picked = index[done]
        batch = pa.table({
            "survey_id": [f"R{year}-{i}" for i in range(len(picked))], "financial_year": [fy] * len(picked),
            "month": [f"{year}-06"] * len(picked), "month_start": [date(year, 6, 1)] * len(picked),
            "survey_strand": frame["strand"][picked].astype(str), "area": frame["area"][picked].astype(str),
            "design_weight": design[done], "calibrated_weight": calibrated, "outcome": ["COMPLETE"] * len(picked),
            **{q: answers[q][picked].astype(np.int32) for q in QUESTIONS},
            "ethnic_group": frame["ethnic_group"][picked].astype(str), "force_code": ["SIM"] * len(picked),
        })
        conn.execute("INSERT INTO marts.responses BY NAME SELECT * FROM batch")
        window = (date(year, 4, 1), date(year + 1, 4, 1))
        tables.write(conn, tables.ANNUAL, tables.annual_sql(THRESHOLDS, *window), window,
                     lambda c, w=window: disclosure.finalise_annual(c, *w, THRESHOLDS))
        tables.write(conn, tables.GAP, tables.gap_sql(THRESHOLDS, *window), window,
                     lambda c, w=window: disclosure.finalise_gap(c, *w, THRESHOLDS))
    cells = conn.execute("""SELECT year(year_start), question, survey_strand, area, satisfied_pct,
                                   satisfied_pct_design, ci_low, ci_high, respondents, change_vs_previous_pp,
                                   change_significant, change_significant_fdr
                            FROM marts.satisfaction_annual WHERE NOT suppressed
                              AND (survey_strand = 'ALL' OR area = 'ALL')""").fetchall()
    gaps = conn.execute("""SELECT year(year_start), question, gap_pp, gap_significant, gap_significant_fdr
                           FROM marts.satisfaction_gap""").fetchall()
    conn.close()
    return {"truth": truths, "cells": cells, "gaps": gaps}


@dataclass
class Summary:
    replicates: int
    coverage: float  # share of published 95% intervals (force, strand, area cells) covering the truth
    intervals: int
    bias_calibrated: dict[str, float]  # question -> mean (estimate - truth), force total, points
    bias_design: dict[str, float]
    change_detected: dict[str, float]  # planted-change question -> share flagged (SCJS rule)
    change_detected_fdr: dict[str, float]
    gap_detected: float  # whole_experience gap flagged (SCJS rule), 2025/26
    gap_detected_fdr: float
    false_change_rate: float  # tests on questions with no planted change flagged (SCJS rule)
    false_change_rate_fdr: float
    change_tests: int


def summarise(results: list[dict], truth: Truth) -> Summary:
    changed = {q for shifts in truth.year.values() for q, v in shifts.items() if v}
    covered = intervals = 0
    bias_c = {q: [] for q in QUESTIONS}
    bias_d = {q: [] for q in QUESTIONS}
    detected = {q: [] for q in changed}
    detected_fdr = {q: [] for q in changed}
    false, false_fdr, null_tests = 0, 0, 0
    gap, gap_fdr = [], []
    for r in results:
        for year, q, s, a, pct, pct_d, low, high, n, change, sig, sig_fdr in r["cells"]:
            true = r["truth"][year][q][(s, a)]
            intervals += 1
            covered += low <= true <= high
            if (s, a) == ("ALL", "ALL"):
                bias_c[q].append(pct - true)
                bias_d[q].append(pct_d - true)
            if year == YEARS[1] and sig is not None:
                if q in changed and (s, a) == ("ALL", "ALL"):
                    detected[q].append(sig)
                    detected_fdr[q].append(sig_fdr)
                elif q not in changed:
                    null_tests += 1
                    false += sig
                    false_fdr += sig_fdr
        for year, q, gap_pp, sig, sig_fdr in r["gaps"]:
            if year == YEARS[1] and q == "whole_experience":
                gap.append(bool(sig))
                gap_fdr.append(bool(sig_fdr))

    def mean(values):
        return float(np.mean(values)) if values else float("nan")

    return Summary(
        replicates=len(results), coverage=covered / max(intervals, 1), intervals=intervals,
        bias_calibrated={q: mean(v) for q, v in bias_c.items()}, bias_design={q: mean(v) for q, v in bias_d.items()},
        change_detected={q: mean(v) for q, v in detected.items()},
        change_detected_fdr={q: mean(v) for q, v in detected_fdr.items()},
        gap_detected=mean(gap), gap_detected_fdr=mean(gap_fdr),
        false_change_rate=false / max(null_tests, 1), false_change_rate_fdr=false_fdr / max(null_tests, 1),
        change_tests=null_tests,
    )


def validate(replicates: int, seed: int = 2025, scenario: Scenario = Scenario()) -> Summary:
    return summarise([run_replicate(seed + i, scenario) for i in range(replicates)], scenario.truth)
