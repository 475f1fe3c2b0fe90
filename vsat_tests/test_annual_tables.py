"""The satisfaction marts on hand-made responses, checked against figures worked out by hand.

Rows go into staging.survey_responses of a temporary DuckDB; marts.responses is built with
the SQL runner, then the annual tables with vsat_assets.defs.annual.tables (as the assets do).
"""

import math
from datetime import date

import duckdb
import pytest

from vsat_assets.defs.annual import checks, disclosure, tables, weighting
from vsat_assets.defs.annual.design import Z95
from vsat_assets.resources import SurveySettings
from vsat_assets.sql_project import PROJECT_DIR, prepare_connection
from vsat_assets.sql_runner.build import build_model
from vsat_assets.sql_runner.models import discover_models

FY_2025 = (date(2025, 4, 1), date(2026, 4, 1))
FY_2024 = (date(2024, 4, 1), date(2025, 4, 1))
ALL_MONTHS = (date(2024, 4, 1), date(2026, 4, 1))
THRESHOLDS = tables.Thresholds()
STAGING_DDL = """CREATE TABLE staging.survey_responses (
    sampling_month DATE, survey_id VARCHAR, outcome VARCHAR, interview_date DATE, ease_of_contact INTEGER,
    actions_taken INTEGER, kept_informed INTEGER, treatment INTEGER, whole_experience INTEGER,
    force_code VARCHAR, survey_strand VARCHAR, policing_area VARCHAR, victim_ethnicity VARCHAR,
    design_weight DOUBLE, returns_file VARCHAR)"""


def design_rolling_weights(conn: duckdb.DuckDBPyConnection) -> None:
    """intermediate.rolling_weights with each period's respondents standing for themselves (no frame here)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
    periods = weighting.rolling_periods(conn) or [(date(1900, 1, 1), date(1900, 1, 1))]
    conn.execute(f"""CREATE OR REPLACE TABLE {tables.ROLLING_WEIGHTS} AS
        SELECT p.period_start, p.period_end, r.survey_id, r.design_weight AS rolling_weight
        FROM (VALUES {", ".join(f"(DATE '{a}', DATE '{b}')" for a, b in periods)}) p(period_start, period_end)
        JOIN {tables.RESPONSES} r ON r.month_start BETWEEN p.period_start AND p.period_end
        WHERE r.outcome = 'COMPLETE' AND r.survey_strand <> 'DOMESTIC_ABUSE'""")


class Survey:
    """A temporary warehouse to add hand-made responses to and build the marts from."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        self.count = 0
        prepare_connection(conn, b"test-key" * 4)
        conn.execute(STAGING_DDL)

    def add(self, month: date, codes, weights=None, strand="ASB", area="NORTH_DURHAM",
            ethnicity="WHITE", outcome="COMPLETE", question="whole_experience"):
        """One response per code (None = blank), answering `question` (the other answers blank)."""
        weights = weights or [1.0] * len(codes)
        rows = []
        for code, weight in zip(codes, weights):
            self.count += 1
            answers = {q: (code if q == question else None) for q in tables.QUESTIONS}
            rows.append([month, f"S{self.count:06d}", outcome, month, *answers.values(), "DUR", strand, area,
                         ethnicity, weight, "returns_test.csv"])
        self.conn.executemany("INSERT INTO staging.survey_responses VALUES (" + ", ".join(["?"] * 15) + ")", rows)

    def build(self, window=ALL_MONTHS):
        models = discover_models(PROJECT_DIR)
        build_model(self.conn, models["responses"], models, SurveySettings().model_vars(), window)
        # No frame here: the respondents stand for themselves (calibration is tested in test_weighting.py).
        self.conn.execute("UPDATE marts.responses SET calibrated_weight = design_weight WHERE outcome = 'COMPLETE'")
        for year in (FY_2024, FY_2025):
            tables.write(self.conn, tables.ANNUAL, tables.annual_sql(THRESHOLDS, *year), year,
                         lambda c, y=year: disclosure.finalise_annual(c, *y, THRESHOLDS))
            tables.write(self.conn, tables.GAP, tables.gap_sql(THRESHOLDS, *year), year,
                         lambda c, y=year: disclosure.finalise_gap(c, *y, THRESHOLDS))
        tables.write(self.conn, tables.ROLLING, tables.rolling_sql(THRESHOLDS), None, prepare=design_rolling_weights)
        tables.write(self.conn, tables.DA_MONTHLY, tables.da_monthly_sql(THRESHOLDS, *window), window)
        tables.write(self.conn, tables.DA_QUARTERLY, tables.da_quarterly_sql(THRESHOLDS, *window), window)

    def cell(self, year="2025/26", question="whole_experience", strand="ALL", area="ALL") -> dict:
        result = self.conn.execute(
            "SELECT * FROM marts.satisfaction_annual WHERE financial_year = ? AND question = ? "
            "AND survey_strand = ? AND area = ?", [year, question, strand, area])
        names = [d[0] for d in result.description]
        rows = result.fetchall()
        assert len(rows) == 1, rows
        return dict(zip(names, rows[0]))


@pytest.fixture
def survey(tmp_path):
    conn = duckdb.connect(str(tmp_path / "annual.duckdb"))
    yield Survey(conn)
    conn.close()


def wilson_by_hand(p, n):
    z = Z95
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * (centre - half), 100 * (centre + half)


def test_weighted_cell_matches_the_hand_calculation(survey):
    codes = [1, 2, 3, 3, 4, 5, 7, 1, 2, 6, 8, 9, None]
    weights = [1.0, 2.0, 2.0, 1.0, 3.0, 1.0, 1.0, 2.0, 1.0, 2.0, 5.0, 5.0, 5.0]
    survey.add(date(2025, 5, 1), codes, weights)
    survey.add(date(2025, 5, 1), [None] * 4, outcome="REFUSED")
    survey.build()

    valid = [(c, w) for c, w in zip(codes, weights) if c is not None and c <= 7]
    total = sum(w for _, w in valid)  # 16
    p = sum(w for c, w in valid if c <= 3) / total  # 9/16
    # Taylor linearisation, one stratum: v = n/(n-1) * sum (z - zbar)^2, z = w (y - p) / W
    z = [w * ((c <= 3) - p) / total for c, w in valid]
    v = len(z) / (len(z) - 1) * sum((zi - sum(z) / len(z)) ** 2 for zi in z)
    n_eff = p * (1 - p) / v
    low, high = wilson_by_hand(p, n_eff)
    for strand in ("ALL", "ASB"):
        cell = survey.cell(strand=strand)
        assert cell["respondents"] == 10
        assert cell["satisfied_pct"] == pytest.approx(100 * 9 / 16)
        assert cell["effective_n"] == pytest.approx(n_eff)
        assert cell["standard_error"] == pytest.approx(100 * math.sqrt(v))
        assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((low, high))
        assert cell["completely_or_very_pct"] == pytest.approx(100 * 6 / 16)
        assert cell["low_base"] and not cell["suppressed"]


def test_cells_by_strand_area_and_both(survey):
    survey.add(date(2025, 6, 1), [1] * 12, strand="BURGLARY", area="DARLINGTON")
    survey.add(date(2025, 6, 1), [5] * 12, strand="ASB", area="DARLINGTON")
    survey.add(date(2025, 6, 1), [1] * 6 + [5] * 6, strand="ASB", area="EAST_DURHAM")
    survey.build()
    assert survey.cell()["satisfied_pct"] == pytest.approx(50.0)
    assert survey.cell(strand="ASB")["satisfied_pct"] == pytest.approx(25.0)
    assert survey.cell(area="DARLINGTON")["satisfied_pct"] == pytest.approx(50.0)
    assert survey.cell(strand="BURGLARY", area="DARLINGTON")["satisfied_pct"] == pytest.approx(100.0)
    assert survey.cell(strand="ASB", area="EAST_DURHAM")["respondents"] == 12


def test_small_cells_are_suppressed_and_flagged(survey):
    survey.add(date(2025, 4, 1), [1] * 60, strand="ASB")
    survey.add(date(2025, 4, 1), [1, 1, 5, 6, 7], strand="HATE", area="DARLINGTON")
    survey.build()
    hate = survey.cell(strand="HATE")
    # suppressed cells show no base at all
    assert hate["respondents"] is None and hate["suppressed"] and hate["effective_n"] is None
    assert hate["satisfied_pct"] is None and hate["ci_low"] is None and hate["ci_high"] is None
    assert hate["completely_or_very_pct"] is None
    darlington = survey.cell(area="DARLINGTON")
    assert darlington["suppressed"] and darlington["satisfied_pct"] is None
    force = survey.cell()
    assert force["respondents"] == 65 and not force["low_base"] and not force["suppressed"]
    assert checks.small_published_rows(survey.conn, tables.ANNUAL, THRESHOLDS.suppress) == 0


def test_domestic_abuse_is_not_in_the_general_tables(survey):
    survey.add(date(2025, 7, 1), [1] * 20, strand="ASB")
    survey.add(date(2025, 7, 1), [7] * 15, strand="DOMESTIC_ABUSE")
    survey.add(date(2025, 8, 1), [1, 2, 9], strand="DOMESTIC_ABUSE")
    survey.build()
    assert survey.cell()["respondents"] == 20
    strands = {r[0] for r in survey.conn.execute("SELECT survey_strand FROM marts.satisfaction_annual").fetchall()}
    assert "DOMESTIC_ABUSE" not in strands
    da = dict(((m, q), (n, pct, sup)) for m, q, n, pct, sup in survey.conn.execute(
        "SELECT month, question, respondents, satisfied_pct, suppressed FROM marts.satisfaction_da_monthly").fetchall())
    assert da[("2025-07", "whole_experience")] == (15, 0.0, False)
    assert da[("2025-08", "whole_experience")] == (None, None, True)  # suppressed: no base shown


def test_change_vs_previous_year_and_its_significance(survey):
    survey.add(date(2024, 6, 1), [1] * 60 + [5] * 40, strand="ASB")       # 60%
    survey.add(date(2025, 6, 1), [1] * 80 + [5] * 20, strand="ASB")       # 80%: significant
    survey.add(date(2024, 6, 1), [1] * 70 + [5] * 30, strand="BURGLARY")  # 70%
    survey.add(date(2025, 6, 1), [1] * 74 + [5] * 26, strand="BURGLARY")  # 74%: not significant
    survey.add(date(2025, 6, 1), [1] * 12, strand="FRAUD")                # no previous year
    survey.build()

    def expected(prev, cur):
        h_prev = (lambda lo, hi: (hi - lo) / 2)(*wilson_by_hand(prev, 100))
        h_cur = (lambda lo, hi: (hi - lo) / 2)(*wilson_by_hand(cur, 100))
        diff = 100 * (cur - prev)
        return diff, abs(diff) > math.sqrt(h_prev ** 2 + h_cur ** 2)

    asb, burglary = survey.cell(strand="ASB"), survey.cell(strand="BURGLARY")
    assert (asb["change_vs_previous_pp"], asb["change_significant"]) == (pytest.approx(20.0), True)
    assert expected(0.6, 0.8)[1] is True
    assert burglary["change_vs_previous_pp"] == pytest.approx(4.0)
    assert burglary["change_significant"] is expected(0.7, 0.74)[1] is False
    fraud = survey.cell(strand="FRAUD")
    assert fraud["change_vs_previous_pp"] is None and fraud["change_significant"] is None
    assert survey.cell(year="2024/25", strand="ASB")["change_vs_previous_pp"] is None


def test_no_change_when_previous_year_is_suppressed(survey):
    survey.add(date(2024, 6, 1), [1] * 5, strand="HATE")
    survey.add(date(2025, 6, 1), [1] * 30, strand="HATE")
    survey.build()
    hate = survey.cell(strand="HATE")
    assert hate["change_vs_previous_pp"] is None and hate["change_significant"] is None


def test_hmic_figure_1200_respondents_at_88_6_is_plus_or_minus_1_8(survey):
    survey.add(date(2025, 9, 1), [1] * 1063 + [5] * 137, [3.5] * 1200)
    survey.build()
    cell = survey.cell()
    # one stratum, equal weights: the Taylor variance is p(1-p)/(n-1), so n* = n - 1
    assert cell["respondents"] == 1200 and cell["effective_n"] == pytest.approx(1199)
    assert round(cell["satisfied_pct"], 1) == 88.6
    assert round((cell["ci_high"] - cell["ci_low"]) / 2, 1) == 1.8


def test_ethnic_gap_and_its_significance(survey):
    survey.add(date(2025, 4, 1), [1] * 90 + [5] * 10, ethnicity="WHITE")
    survey.add(date(2025, 4, 1), [1] * 30 + [5] * 20, ethnicity="ASIAN")
    survey.add(date(2025, 4, 1), [5] * 10, ethnicity="NOT_STATED")
    survey.build()
    gap = survey.conn.execute(
        "SELECT white_respondents, white_pct, ethnic_minority_respondents, ethnic_minority_pct, gap_pp, "
        "gap_significant, suppressed FROM marts.satisfaction_gap WHERE question = 'whole_experience'").fetchone()
    assert gap[0] == 100 and gap[1] == pytest.approx(90.0)
    assert gap[2] == 50 and gap[3] == pytest.approx(60.0)
    assert gap[4] == pytest.approx(30.0) and gap[5] is True and gap[6] is False


def test_rolling_twelve_months_to_each_quarter_end(survey):
    survey.add(date(2024, 5, 1), [1] * 10)
    survey.add(date(2025, 2, 1), [5] * 10)
    survey.add(date(2025, 5, 1), [1] * 20)
    survey.add(date(2025, 6, 1), [1] * 10)
    survey.build()
    rows = {r[0]: r[1:] for r in survey.conn.execute(
        "SELECT period_end_month, first_month, months_covered, partial, label, respondents, satisfied_pct "
        "FROM marts.satisfaction_rolling").fetchall()}
    # Quarter ends from the first month with data to the last.
    assert sorted(rows) == ["2024-06", "2024-09", "2024-12", "2025-03", "2025-06"]
    # The survey began in May 2024: periods to June 2024 .. March 2025 are partial and say how long they are.
    assert rows["2024-06"] == ("2024-05", 2, True, "2 months to June 2024 (partial)", 10, pytest.approx(100.0))
    assert rows["2025-03"] == ("2024-05", 11, True, "11 months to March 2025 (partial)", 20, pytest.approx(50.0))
    # A full year: July 2024 to June 2025 (May 2024 has dropped out).
    assert rows["2025-06"] == ("2024-07", 12, False, "12 months to June 2025", 40, pytest.approx(75.0))
    labelled_twelve = [m for m, r in rows.items() if r[3].startswith("12 months")]
    assert labelled_twelve == ["2025-06"]


def test_responses_mart_is_pseudonymous_and_derives_year_and_group(survey):
    survey.add(date(2026, 3, 1), [1], ethnicity="BLACK")
    survey.add(date(2025, 3, 1), [2], ethnicity="NOT_STATED")
    survey.build()
    rows = survey.conn.execute(
        "SELECT month, financial_year, ethnic_group FROM marts.responses ORDER BY month").fetchall()
    assert rows == [("2025-03", "2024/25", "NOT_STATED"), ("2026-03", "2025/26", "ETHNIC_MINORITY")]
    assert checks.personal_data_findings(survey.conn) == []
    assert checks.base_mismatches(survey.conn) == 0
    for table in (tables.ANNUAL, tables.ROLLING, tables.DA_MONTHLY):
        assert checks.out_of_interval_rows(survey.conn, table) == 0


def test_personal_data_scan_finds_names_phones_and_crime_references(survey):
    survey.conn.execute("CREATE TABLE marts.leaky (victim_surname VARCHAR, note VARCHAR, no_phone BIGINT)")
    survey.conn.execute("INSERT INTO marts.leaky VALUES ('x', 'call 07700 900123 today', 3), "
                        "('y', 'ref DUR/C/2025-04/00012', 1), ('z', 'S0a5a2cd87855077009001230', 2)")
    findings = checks.personal_data_findings(survey.conn)
    assert "marts.leaky.victim_surname (name)" in findings
    assert "marts.leaky.note (2 values)" in findings
    assert not any("no_phone" in f for f in findings)
