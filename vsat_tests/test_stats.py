"""The annual report's satisfaction cells, computed by the SQL the report runs (satisfaction_sql_select)."""

import math
from types import SimpleNamespace

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsat_assets.defs.annual.stats import Z95, satisfaction_sql_expressions, satisfaction_sql_select

FIELDS = ("respondents", "satisfied_pct", "ci_low", "ci_high", "effective_n", "low_base", "suppressed")


def estimate(codes, weights, **thresholds):
    """One cell through the report's SQL: the answers in a table, one GROUP BY."""
    con = duckdb.connect()
    con.execute("CREATE TABLE answers (code INTEGER, design_weight DOUBLE)")
    con.executemany("INSERT INTO answers VALUES (?, ?)", list(zip(codes, weights)))
    row = con.execute(f"SELECT {satisfaction_sql_select('code', 'design_weight', **thresholds)} FROM answers").fetchone()
    return SimpleNamespace(**dict(zip(FIELDS, row)))


def wilson_by_hand(p, n, z=Z95):
    """Wilson score interval written straight from the textbook formula."""
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = (z / (1 + z**2 / n)) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


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
    assert estimate([1, 5] * 18 + [2], [2.5] * 37, suppress_threshold=1).effective_n == pytest.approx(37.0)


# --- HMIC calibration: Durham 88.6% (+/- 1.8) --------------------------------

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


def test_sql_rejects_non_identifier():
    with pytest.raises(ValueError):
        satisfaction_sql_expressions("code; DROP TABLE x", "w")
    assert set(satisfaction_sql_expressions()) == set(FIELDS)
