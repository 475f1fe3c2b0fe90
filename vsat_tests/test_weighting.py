"""Calibration: bounded raking that converges, the domestic abuse survey weighted month by month to
its own frame, and rolling 12-month periods calibrated to their own months (docs/method.md)."""

from __future__ import annotations

import warnings
from datetime import date

import duckdb
import numpy as np
import pytest

from vsat_assets.contractor_sim.replicates import calibration_problem
from vsat_assets.defs.annual import tables, weighting
from vsat_tests.test_annual_tables import THRESHOLDS, Survey

SETTINGS = weighting.WeightingSettings()


# ------------------------------------------------------------------ trimming that converges
def _g_over_mean(result: weighting.Calibration, design: np.ndarray, totals: dict) -> np.ndarray:
    return result.weights / design / (sum(next(iter(totals.values())).values()) / design.sum())


def _margin_gaps(result: weighting.Calibration, labels: dict, totals: dict) -> list[float]:
    """Relative gap per margin category, recomputed; a margin with categories too small to stand
    alone is pooled (docs/method.md) and checked by the calibration's own max_margin_error instead."""
    gaps = [result.max_margin_error]
    for margin, cats in totals.items():
        label = np.asarray(labels[margin])
        if all((label == c).sum() >= SETTINGS.min_cell for c in cats):
            gaps += [abs(result.weights[label == c].sum() - t) / t for c, t in cats.items()]
    return gaps


def _adversarial(seed: int) -> tuple[np.ndarray, dict, dict]:
    """Response far from even: the young answer at a fifth the rate of the old, the first stratum is
    under-covered and the last over-covered, design weights vary threefold; so the adjustments of
    young respondents of the first stratum exceed three times the mean and old respondents of the
    last fall under a third, yet weights within bounds that meet every margin exist."""
    rng = np.random.default_rng(seed)
    n, frame = 2000, 20000.0
    age_share = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    answered = age_share * np.array([0.2, 0.35, 0.5, 0.8, 0.95])
    age = rng.choice(5, n, p=answered / answered.sum())
    stratum = rng.choice(4, n, p=[0.2, 0.25, 0.25, 0.3])
    labels = {"stratum": np.array([f"S{i}" for i in stratum], dtype=object),
              "age_band": np.array([f"A{i}" for i in age], dtype=object)}
    totals = {"stratum": {f"S{i}": frame * q for i, q in enumerate([0.35, 0.3, 0.2, 0.15])},
              "age_band": {f"A{i}": frame * q for i, q in enumerate(age_share)}}
    return rng.uniform(3, 9, n), labels, totals


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trimming_converges_well_before_its_limit_on_the_demo_scale_year(seed):
    """A year at Durham's volume from the planted truth (the validation's replicate year)."""
    design, labels, totals = calibration_problem(seed)
    result = weighting.calibrate(design, labels, totals)
    assert result.converged and result.widened == 0
    assert result.cycles <= 20 < SETTINGS.max_cycles
    assert max(_margin_gaps(result, labels, totals)) <= SETTINGS.tolerance
    g = _g_over_mean(result, design, totals)
    assert g.min() >= SETTINGS.g_low - 1e-9 and g.max() <= SETTINGS.g_high + 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trimming_converges_with_both_bounds_binding_and_margins_held(seed):
    design, labels, totals = _adversarial(seed)
    result = weighting.calibrate(design, labels, totals)
    g = _g_over_mean(result, design, totals)
    # both bounds bind, relative to the mean adjustment (not to the design weight)
    assert g.min() == pytest.approx(SETTINGS.g_low) and g.max() == pytest.approx(SETTINGS.g_high)
    assert (np.isclose(g, SETTINGS.g_low).sum() > 50) and (np.isclose(g, SETTINGS.g_high).sum() > 50)
    assert result.trimmed == np.isclose(g, SETTINGS.g_low).sum() + np.isclose(g, SETTINGS.g_high).sum()
    assert result.converged and result.widened == 0 and result.cycles <= 50
    assert max(_margin_gaps(result, labels, totals)) <= SETTINGS.tolerance


def test_bounds_no_weights_can_meet_are_widened_until_the_margins_hold():
    design, labels, totals = _adversarial(1)
    tight = weighting.WeightingSettings(g_low=0.7, g_high=1.5)  # the young need about 2.3 on average
    result = weighting.calibrate(design, labels, totals, tight)
    assert result.converged and result.widened == 1 and result.g_bounds == pytest.approx((0.35, 3.0))
    assert max(_margin_gaps(result, labels, totals)) <= tight.tolerance
    g = _g_over_mean(result, design, totals)
    assert g.min() >= 0.35 - 1e-9 and g.max() <= 3.0 + 1e-9


def test_unbounded_raking_agrees_with_samplics():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from samplics.weighting import SampleWeight
    design, labels, totals = calibration_problem(4)
    wide = weighting.WeightingSettings(g_low=1e-9, g_high=1e9, tolerance=1e-10)
    ours = weighting.calibrate(design, labels, totals, wide).weights
    codes = {m: np.unique(np.asarray(v, dtype=str), return_inverse=True) for m, v in labels.items()}
    control = {m: {i: totals[m][c] for i, c in enumerate(names)} for m, (names, _) in codes.items()}
    theirs = SampleWeight().rake(samp_weight=design, margins={m: inv for m, (_, inv) in codes.items()},
                                 control=control, max_iter=500, tol=1e-12)
    assert np.allclose(ours, theirs, rtol=1e-6)


# ------------------------------------------------------------------ frames over several months
class Frame:
    """intermediate.sampling_frame and staging.stg_reports rows for the weighting to read."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        conn.execute("""CREATE TABLE IF NOT EXISTS intermediate.sampling_frame (survey_id VARCHAR,
            crime_reference VARCHAR, victim_person_id VARCHAR, survey_strand VARCHAR, policing_area VARCHAR,
            victim_ethnicity VARCHAR, selection VARCHAR, report_month DATE)""")
        conn.execute("""CREATE TABLE IF NOT EXISTS staging.stg_reports (crime_reference VARCHAR,
            victim_person_id VARCHAR, victim_age INTEGER, report_date DATE)""")
        self.count = 0

    def add(self, month: date, n: int, age: int, strand="ASB", area="NORTH_DURHAM") -> list[str]:
        ids = [f"F{self.count + i:06d}" for i in range(n)]
        self.count += n
        self.conn.executemany("INSERT INTO intermediate.sampling_frame VALUES (?, ?, 'P', ?, ?, 'WHITE', ?, ?)",
                              [[s, f"C{s}", strand, area, "SAMPLED", month] for s in ids])
        self.conn.executemany("INSERT INTO staging.stg_reports VALUES (?, 'P', ?, ?)",
                              [[f"C{s}", age, month.replace(day=3)] for s in ids])
        return ids


def _answer(survey: Survey, month: date, ids: list[str], codes: list[int], strand="ASB", area="NORTH_DURHAM"):
    """Responses from frame victims `ids` (the first len(codes) of them)."""
    first = survey.count
    survey.add(month, codes, strand=strand, area=area)
    survey.conn.executemany("UPDATE staging.survey_responses SET survey_id = ? WHERE survey_id = ?",
                            [[new, f"S{first + k + 1:06d}"] for k, new in enumerate(ids[:len(codes)])])


@pytest.fixture
def survey(tmp_path):
    conn = duckdb.connect(str(tmp_path / "weighting.duckdb"))
    yield Survey(conn)
    conn.close()


def _post_stratified(groups: list[tuple[int, list[int]]]) -> float:
    """% satisfied when each age group counts by its frame size: (frame victims, codes of respondents)."""
    total = sum(n for n, _ in groups)
    return 100 * sum(n * sum(c <= 3 for c in codes) / len(codes) for n, codes in groups) / total


# ------------------------------------------------------------------ domestic abuse: weighted, month by month
DA_MONTHS = {  # month: (young in frame, young answering satisfied/dissatisfied, old in frame, old answering)
    date(2025, 4, 1): (60, (4, 6), 40, (18, 2)),
    date(2025, 5, 1): (40, (1, 5), 60, (27, 3)),
    date(2025, 6, 1): (50, (3, 7), 50, (16, 4)),
}


def _domestic_abuse_survey(survey: Survey) -> dict:
    frame = Frame(survey.conn)
    expected = {}
    for month, (young_n, (young_yes, young_no), old_n, (old_yes, old_no)) in DA_MONTHS.items():
        young, old = frame.add(month, young_n, 22, "DOMESTIC_ABUSE"), frame.add(month, old_n, 70, "DOMESTIC_ABUSE")
        young_codes, old_codes = [1] * young_yes + [6] * young_no, [2] * old_yes + [5] * old_no
        _answer(survey, month, young, young_codes, strand="DOMESTIC_ABUSE")
        _answer(survey, month, old, old_codes, strand="DOMESTIC_ABUSE")
        expected[month] = ((young_n, young_codes), (old_n, old_codes))
    survey.build()
    return expected


def test_domestic_abuse_months_are_weighted_to_their_own_frame(survey):
    expected = _domestic_abuse_survey(survey)
    window = (date(2025, 4, 1), date(2025, 7, 1))
    tables.write(survey.conn, tables.DA_MONTHLY, tables.da_monthly_sql(THRESHOLDS, *window), window,
                 prepare=lambda c: weighting.calibrate_da_months(c, *window))
    months = dict(survey.conn.execute("SELECT month_start, satisfied_pct FROM marts.satisfaction_da_monthly "
                                      "WHERE question = 'whole_experience'").fetchall())
    for month, groups in expected.items():
        unweighted = 100 * sum(c <= 3 for _, codes in groups for c in codes) / sum(len(c) for _, c in groups)
        assert months[month] == pytest.approx(_post_stratified(list(groups)))
        assert abs(months[month] - unweighted) > 5  # the young answer less and are less satisfied
    # each month's weights add up to that month's eligible victims
    totals = dict(survey.conn.execute("""SELECT month_start, sum(calibrated_weight) FROM marts.responses
                                         WHERE survey_strand = 'DOMESTIC_ABUSE' GROUP BY ALL""").fetchall())
    assert totals == {m: pytest.approx(100.0) for m in DA_MONTHS}

    # the rolling quarter to June: the three months' weights, so the quarter is calibrated to its own frame
    june = (date(2025, 6, 1), date(2025, 7, 1))
    tables.write(survey.conn, tables.DA_QUARTERLY, tables.da_quarterly_sql(THRESHOLDS, *june), june)
    quarter, se = survey.conn.execute("SELECT satisfied_pct, standard_error FROM marts.satisfaction_da_quarterly "
                                      "WHERE question = 'whole_experience' AND period_end_month = '2025-06'").fetchone()
    assert quarter == pytest.approx(sum(months[m] * 100 for m in DA_MONTHS) / 300)
    # Taylor linearisation with the calibrated weights: strata area x month
    rows = survey.conn.execute("""SELECT calibrated_weight, whole_experience <= 3, month FROM marts.responses
                                  WHERE survey_strand = 'DOMESTIC_ABUSE'""").fetchall()
    from vsat_assets.defs.annual.design import taylor_variance
    p, v = taylor_variance([float(y) for _, y, _ in rows], [w for w, _, _ in rows], [m for *_, m in rows])
    assert quarter == pytest.approx(100 * p) and se == pytest.approx(100 * v ** 0.5)


def test_the_year_weighs_domestic_abuse_as_its_months_do(survey):
    _domestic_abuse_survey(survey)
    window = (date(2025, 4, 1), date(2025, 7, 1))
    weighting.calibrate_da_months(survey.conn, *window)
    by_month = dict(survey.conn.execute("SELECT survey_id, calibrated_weight FROM marts.responses").fetchall())
    summary = weighting.calibrate_year(survey.conn, "2025/26", date(2025, 4, 1), date(2026, 4, 1))
    by_year = dict(survey.conn.execute("SELECT survey_id, calibrated_weight FROM marts.responses").fetchall())
    assert by_year == pytest.approx(by_month)
    da = next(r for r in summary if r["survey"] == "DOMESTIC_ABUSE" and r["margin"] == "ALL")
    assert da["frame_victims"] == 300 and da["max_margin_error"] <= SETTINGS.tolerance
    young = next(r for r in summary if r["survey"] == "DOMESTIC_ABUSE" and r["category"] == "18-29")
    assert young["calibrated_pct"] == pytest.approx(young["frame_pct"]) == pytest.approx(100 * 150 / 300)


def test_a_domestic_abuse_interview_outside_the_frame_is_refused(survey):
    _domestic_abuse_survey(survey)
    survey.add(date(2025, 5, 1), [1], strand="DOMESTIC_ABUSE")  # its survey_id is in no frame
    survey.build()
    with pytest.raises(ValueError, match="1 domestic abuse interviews .* not in intermediate.sampling_frame"):
        weighting.calibrate_da_months(survey.conn, date(2025, 5, 1), date(2025, 6, 1))


# ------------------------------------------------------------------ rolling 12 months: their own calibration
ROLLING_MONTHS = {  # month: (young in frame, young codes, old in frame, old codes)
    date(2024, 5, 1): (200, [1] * 6 + [5] * 6, 100, [1] * 18 + [5] * 2),
    date(2024, 11, 1): (100, [1] * 5 + [5] * 5, 300, [1] * 30 + [5] * 5),
    date(2025, 5, 1): (300, [1] * 3 + [5] * 9, 100, [1] * 12 + [5] * 8),
    date(2025, 6, 1): (100, [1] * 8 + [5] * 2, 100, [1] * 10 + [5] * 10),
}


def test_rolling_periods_are_calibrated_to_their_own_months(survey):
    frame = Frame(survey.conn)
    for month, (young_n, young_codes, old_n, old_codes) in ROLLING_MONTHS.items():
        young, old = frame.add(month, young_n, 22), frame.add(month, old_n, 70)
        _answer(survey, month, young, young_codes)
        _answer(survey, month, old, old_codes)
    survey.build()
    for year in ((date(2024, 4, 1), date(2025, 4, 1)), (date(2025, 4, 1), date(2026, 4, 1))):
        weighting.calibrate_year(survey.conn, "year", *year)
    tables.write(survey.conn, tables.ROLLING, tables.rolling_sql(THRESHOLDS), None,
                 prepare=weighting.calibrate_rolling)
    rolling = {r[0]: r[1:] for r in survey.conn.execute(
        "SELECT period_end, first_month, satisfied_pct FROM marts.satisfaction_rolling").fetchall()}
    assert sorted(rolling) == [date(2024, 6, 1), date(2024, 9, 1), date(2024, 12, 1), date(2025, 3, 1),
                               date(2025, 6, 1)]
    for end, (first_month, pct) in rolling.items():
        first = date(int(first_month[:4]), int(first_month[5:]), 1)
        months = [m for m in ROLLING_MONTHS if first <= m <= end]
        # the period's weights add up to its own frame on every margin (here: age band)
        weighted = dict(survey.conn.execute(f"""
            SELECT a.age_band, sum(w.rolling_weight) FROM {tables.ROLLING_WEIGHTS} w
            JOIN (SELECT survey_id, CASE WHEN victim_age < 30 THEN '18-29' ELSE '60+' END AS age_band
                  FROM intermediate.sampling_frame JOIN staging.stg_reports USING (crime_reference)) a
              USING (survey_id) WHERE w.period_end = ? GROUP BY ALL""", [end]).fetchall())
        assert weighted == {"18-29": pytest.approx(sum(ROLLING_MONTHS[m][0] for m in months)),
                            "60+": pytest.approx(sum(ROLLING_MONTHS[m][2] for m in months))}
        young = (sum(ROLLING_MONTHS[m][0] for m in months), [c for m in months for c in ROLLING_MONTHS[m][1]])
        old = (sum(ROLLING_MONTHS[m][2] for m in months), [c for m in months for c in ROLLING_MONTHS[m][3]])
        assert pct == pytest.approx(_post_stratified([young, old]))
    # The 12 months to June 2025 splice two financial years: the yearly weights of its months do not
    # add up to its 1,000 eligible victims (November 2024 is weighted within 2024/25 with May 2024).
    spliced = survey.conn.execute("""SELECT sum(calibrated_weight) FROM marts.responses
        WHERE month_start BETWEEN DATE '2024-07-01' AND DATE '2025-06-01'""").fetchone()[0]
    assert abs(spliced - 1000) > 5
