import math

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsat_assets.defs.annual.stats import (
    Estimate,
    Z95,
    change,
    estimate,
    kish_effective_n,
    normal_half_width,
    satisfaction_sql_expressions,
    satisfaction_sql_select,
    share_completely_or_very,
    wilson_interval,
)


def wilson_by_hand(p, n, z=Z95):
    """Wilson score interval written straight from the textbook formula."""
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = (z / (1 + z**2 / n)) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def published(pct, low, high):
    return Estimate(1000, pct, low, high, 1000.0, False, False)


# --- equal weights -----------------------------------------------------------

def test_equal_weights_seven_of_ten():
    est = estimate([1, 2, 3, 1, 2, 3, 1, 4, 5, 7], [1.0] * 10)
    assert est.respondents == 10
    assert est.satisfied_pct == pytest.approx(70.0)
    assert est.effective_n == pytest.approx(10.0)
    low, high = wilson_by_hand(0.7, 10)
    assert est.ci_low == pytest.approx(100 * low, abs=1e-12)
    assert est.ci_high == pytest.approx(100 * high, abs=1e-12)
    # Published reference values for the 95% Wilson interval on 7/10.
    assert est.ci_low == pytest.approx(39.68, abs=0.01)
    assert est.ci_high == pytest.approx(89.22, abs=0.01)
    assert est.low_base and not est.suppressed


def test_equal_weights_kish_is_plain_count():
    assert kish_effective_n([2.5] * 37) == pytest.approx(37.0)


# --- HMIC calibration: Durham 88.6% (+/- 1.8) --------------------------------

def test_hmic_half_width_wald_and_wilson():
    assert round(normal_half_width(0.886, 1200), 1) == 1.8
    low, high = wilson_interval(0.886, 1200)
    assert round(100 * (high - low) / 2, 1) == 1.8


def test_hmic_through_estimate():
    codes = [1] * 1063 + [5] * 137  # 1063 / 1200 = 88.58%
    est = estimate(codes, [3.0] * 1200)
    assert round(est.satisfied_pct, 1) == 88.6
    assert round((est.ci_high - est.ci_low) / 2, 1) == 1.8
    assert not est.low_base and not est.suppressed


# --- unequal weights ---------------------------------------------------------

def test_unequal_weights_by_hand():
    # satisfied weight 2 + 1 = 3 of total 8 -> p = 0.375
    # Kish: 8^2 / (4 + 1 + 1 + 16) = 64 / 22
    est = estimate([1, 2, 4, 5], [2.0, 1.0, 1.0, 4.0], suppress_threshold=1)
    assert est.respondents == 4
    assert est.satisfied_pct == pytest.approx(37.5)
    assert est.effective_n == pytest.approx(64 / 22)
    low, high = wilson_by_hand(0.375, 64 / 22)
    assert est.ci_low == pytest.approx(100 * low)
    assert est.ci_high == pytest.approx(100 * high)


def test_unequal_weights_widen_interval():
    codes = [1, 2, 3, 4] * 25
    equal = estimate(codes, [1.0] * 100)
    unequal = estimate(codes, [1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0] * 12 + [1.0] * 4)
    assert unequal.effective_n < equal.effective_n
    assert unequal.ci_high - unequal.ci_low > equal.ci_high - equal.ci_low


# --- base --------------------------------------------------------------------

def test_dont_know_not_applicable_and_blank_excluded():
    est = estimate([1, 8, 9, None, 5], [1.0, 100.0, 100.0, 100.0, 1.0], suppress_threshold=1)
    assert est.respondents == 2
    assert est.satisfied_pct == pytest.approx(50.0)
    assert est.effective_n == pytest.approx(2.0)


def test_no_valid_answers():
    est = estimate([8, 9, None], [1.0, 1.0, 1.0], suppress_threshold=0)
    assert est.respondents == 0
    assert est.satisfied_pct is None and est.ci_low is None and est.effective_n is None


def test_rejects_unknown_code_and_mismatched_lengths():
    with pytest.raises(ValueError):
        estimate([0, 1], [1.0, 1.0])
    with pytest.raises(ValueError):
        estimate([1, 2], [1.0])
    with pytest.raises(ValueError):
        estimate([1], [-1.0])


def test_share_completely_or_very():
    # codes 1-2 weigh 1 + 2 = 3 of valid total 1 + 2 + 3 + 4 = 10
    assert share_completely_or_very([1, 2, 3, 4, 8], [1.0, 2.0, 3.0, 4.0, 10.0]) == pytest.approx(30.0)
    assert share_completely_or_very([9, None], [1.0, 1.0]) is None


# --- disclosure control ------------------------------------------------------

@pytest.mark.parametrize(
    "n, suppressed, low_base",
    [(9, True, True), (10, False, True), (49, False, True), (50, False, False)],
)
def test_default_thresholds(n, suppressed, low_base):
    est = estimate([2] * n, [1.0] * n)
    assert est.respondents == n
    assert est.suppressed is suppressed
    assert est.low_base is low_base
    assert (est.satisfied_pct is None) is suppressed
    assert (est.ci_low is None and est.ci_high is None) is suppressed


def test_configurable_thresholds():
    est = estimate([2] * 7, [1.0] * 7, suppress_threshold=5, low_base_threshold=8)
    assert not est.suppressed and est.low_base and est.satisfied_pct == pytest.approx(100.0)
    est = estimate([2] * 7, [1.0] * 7, suppress_threshold=8, low_base_threshold=8)
    assert est.suppressed and est.satisfied_pct is None


# --- change between years ----------------------------------------------------

def test_change_not_significant_hmic_durham():
    # 88.6 +/- 1.8 vs 89.6 +/- 1.5: |-1.0| < sqrt(1.8^2 + 1.5^2) = 2.343
    diff, significant = change(published(88.6, 86.8, 90.4), published(89.6, 88.1, 91.1))
    assert diff == pytest.approx(-1.0)
    assert significant is False


def test_change_significant():
    # 85.0 +/- 2.0 vs 90.0 +/- 1.5: |-5.0| > sqrt(4 + 2.25) = 2.5
    diff, significant = change(published(85.0, 83.0, 87.0), published(90.0, 88.5, 91.5))
    assert diff == pytest.approx(-5.0)
    assert significant is True


def test_change_at_threshold_is_not_significant():
    # half-widths 3 and 4 -> threshold exactly 5; the rule needs "exceeds"
    diff, significant = change(published(60.0, 57.0, 63.0), published(55.0, 51.0, 59.0))
    assert diff == 5.0
    assert significant is False


def test_change_none_when_suppressed():
    hidden = estimate([1] * 5, [1.0] * 5)
    shown = published(80.0, 78.0, 82.0)
    assert change(shown, hidden) == (None, None)
    assert change(hidden, shown) == (None, None)


# --- properties --------------------------------------------------------------

answers = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(1, 9)),
        st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=60,
)


@given(answers)
def test_interval_contains_estimate_within_0_100(rows):
    codes = [c for c, _ in rows]
    weights = [w for _, w in rows]
    est = estimate(codes, weights, suppress_threshold=1)
    if est.respondents == 0:
        assert est.satisfied_pct is None
        return
    assert 0.0 <= est.ci_low <= est.satisfied_pct <= est.ci_high <= 100.0
    assert 0.0 < est.effective_n <= est.respondents * (1 + 1e-9)


# --- DuckDB expressions agree with estimate() --------------------------------

FIELDS = ("respondents", "satisfied_pct", "ci_low", "ci_high", "effective_n", "low_base", "suppressed")


def sql_estimates(con, rows, **thresholds):
    con.execute("CREATE OR REPLACE TABLE answers (cell INTEGER, code INTEGER, design_weight DOUBLE)")
    con.executemany("INSERT INTO answers VALUES (?, ?, ?)", rows)
    select = satisfaction_sql_select("code", "design_weight", **thresholds)
    result = con.execute(f"SELECT cell, {select} FROM answers GROUP BY cell ORDER BY cell").fetchall()
    return {r[0]: dict(zip(FIELDS, r[1:])) for r in result}


def assert_agrees(sql_row, est):
    for field in FIELDS:
        expected, got = getattr(est, field), sql_row[field]
        if expected is None or isinstance(expected, (bool, int)):
            assert got == expected, field
        else:
            assert got == pytest.approx(expected, rel=0, abs=1e-9), field


def python_estimates(rows, **thresholds):
    cells = {}
    for cell, code, weight in rows:
        cells.setdefault(cell, ([], []))
        cells[cell][0].append(code)
        cells[cell][1].append(weight)
    return {cell: estimate(c, w, **thresholds) for cell, (c, w) in cells.items()}


SMALL_TABLE = (
    # cell 1: unequal weights with 8/9/NULL mixed in, 12 valid answers
    [(1, c, w) for c, w in zip([1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 8, 9, None, 3, 5],
                               [1.2, 0.8, 2.5, 1.0, 3.1, 0.4, 1.9, 2.2, 0.7, 1.3, 5.0, 5.0, 5.0, 0.9, 1.1])]
    # cell 2: 5 answers, all satisfied (suppressed by default)
    + [(2, c, 2.0) for c in [1, 1, 2, 3, 3]]
    # cell 3: nothing valid
    + [(3, c, 1.0) for c in [8, 9, None]]
    # cell 4: 60 answers, none satisfied
    + [(4, 4 + i % 4, 1.0 + (i % 3)) for i in range(60)]
)


@pytest.mark.parametrize("thresholds", [{}, {"suppress_threshold": 0, "low_base_threshold": 5}])
def test_sql_matches_estimate_on_small_table(thresholds):
    con = duckdb.connect()
    got = sql_estimates(con, SMALL_TABLE, **thresholds)
    expected = python_estimates(SMALL_TABLE, **thresholds)
    assert set(got) == set(expected) == {1, 2, 3, 4}
    for cell in expected:
        assert_agrees(got[cell], expected[cell])
    # sanity: the comparison is not all-NULL
    assert got[1]["satisfied_pct"] is not None and got[1]["respondents"] == 12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.one_of(st.none(), st.integers(1, 9)),
                          st.floats(1e-3, 1e4, allow_nan=False)), min_size=1, max_size=80))
def test_sql_matches_estimate_property(rows):
    con = duckdb.connect()
    got = sql_estimates(con, rows, suppress_threshold=2, low_base_threshold=6)
    expected = python_estimates(rows, suppress_threshold=2, low_base_threshold=6)
    for cell in expected:
        assert_agrees(got[cell], expected[cell])


def test_sql_rejects_non_identifier():
    with pytest.raises(ValueError):
        satisfaction_sql_expressions("code; DROP TABLE x", "w")
    assert set(satisfaction_sql_expressions()) == set(FIELDS)
