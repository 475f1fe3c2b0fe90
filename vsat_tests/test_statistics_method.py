"""The statistical method: calibration weights, design-based intervals, disclosure control that
holds against an attacker with the HMICFRS export, and significance restricted and FDR-controlled."""

import csv
import io
import math
import warnings
from datetime import date

import duckdb
import numpy as np
import pytest

from vsat_assets.defs.annual import design, disclosure, hmicfrs, tables, weighting
from vsat_tests.test_annual_tables import Survey

AREAS = ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")


@pytest.fixture
def survey(tmp_path):
    conn = duckdb.connect(str(tmp_path / "method.duckdb"))
    yield Survey(conn)
    conn.close()


# ------------------------------------------------------------------ intervals from the design
def test_taylor_standard_error_matches_samplics_over_strata_and_domains(survey):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from samplics.estimation import TaylorEstimator
        from samplics.utils.types import PopParam
    rng = np.random.default_rng(3)
    records = []
    for strand in ("ASB", "BURGLARY", "VIOLENCE"):
        for area in AREAS[:3]:
            n = int(rng.integers(15, 60))
            codes = [int(c) for c in rng.choice([1, 2, 3, 4, 5, 6, 7, 8], n)]
            weights = [float(w) for w in rng.uniform(2, 12, n)]
            ethnicity = "ASIAN" if area == AREAS[0] else "WHITE"
            survey.add(date(2025, 5, 1), codes, weights, strand=strand, area=area, ethnicity=ethnicity)
            records += [(c, w, f"{strand}|{area}", ethnicity) for c, w in zip(codes, weights)]
    survey.build()
    valid = [r for r in records if r[0] <= 7]
    y = np.array([float(c <= 3) for c, *_ in valid])
    w = np.array([r[1] for r in valid])
    strata = np.array([r[2] for r in valid])
    est = TaylorEstimator(PopParam.mean)
    est.estimate(y=y, samp_weight=w, stratum=strata)
    cell = survey.cell()
    assert cell["satisfied_pct"] == pytest.approx(100 * est.point_est)
    assert cell["standard_error"] == pytest.approx(100 * est.stderror)
    # a domain (ethnic group) keeps every stratum's size in the variance
    domain = np.array(["WHITE" if r[3] == "WHITE" else "ETHNIC_MINORITY" for r in valid])
    est = TaylorEstimator(PopParam.mean)
    est.estimate(y=y, samp_weight=w, stratum=strata, domain=domain)
    white_pct, white_se, minority_se = survey.conn.execute(
        "SELECT white_pct, white_se, ethnic_minority_se FROM marts.satisfaction_gap "
        "WHERE question = 'whole_experience'").fetchone()
    assert white_pct == pytest.approx(100 * est.point_est["WHITE"])
    assert white_se == pytest.approx(100 * est.stderror["WHITE"])
    assert minority_se == pytest.approx(100 * est.stderror["ETHNIC_MINORITY"])


def test_completely_or_very_interval_and_dont_know_shares(survey):
    survey.add(date(2025, 5, 1), [1] * 30 + [2] * 20 + [3] * 30 + [5] * 20 + [8] * 8 + [9] * 2)
    survey.build()
    cell = survey.cell()
    assert cell["completely_or_very_pct"] == pytest.approx(50.0)
    assert cell["completely_or_very_ci_low"] < 50.0 < cell["completely_or_very_ci_high"]
    assert cell["completely_or_very_ci_high"] - cell["completely_or_very_ci_low"] == pytest.approx(19.3, abs=0.3)
    assert cell["dont_know_pct"] == pytest.approx(100 * 8 / 110)
    assert cell["not_applicable_pct"] == pytest.approx(100 * 2 / 110)


# ------------------------------------------------------------------ non-response calibration
def test_raking_meets_the_frame_margins_within_trimming_bounds():
    rng = np.random.default_rng(5)
    n = 600
    age = np.where(rng.random(n) < 0.15, "18-29", "60+")  # the young answer less often
    strata = np.array([f"S{i}" for i in rng.integers(0, 4, n)], dtype=object)
    design_weights = np.full(n, 6.0)
    frame = 3600.0
    totals = {"stratum": {f"S{i}": frame / 4 for i in range(4)},
              "age_band": {"18-29": 0.4 * frame, "60+": 0.6 * frame}}
    result = weighting.calibrate(design_weights, {"stratum": strata, "age_band": age}, totals)
    # bounds on g = w / d relative to its mean, frame / sum(d) = 3600 / 3600 = 1
    g = result.weights / design_weights
    assert g.min() >= 1 / 3 - 1e-9 and g.max() <= 3.0 + 1e-9
    assert result.converged and result.max_margin_error <= 1e-6
    young = result.weights[age == "18-29"].sum()
    assert young == pytest.approx(0.4 * frame, rel=1e-6)
    assert result.weights.sum() == pytest.approx(frame, rel=1e-6)
    assert 0.5 < result.efficiency < 1.0 and result.design_efficiency == pytest.approx(1.0)


def test_small_categories_are_pooled_not_left_without_respondents():
    labels = {"stratum": np.array(["A"] * 50 + ["B"] * 2, dtype=object)}
    totals = {"stratum": {"A": 900.0, "B": 50.0, "C": 50.0}}  # C: nobody answered
    result = weighting.calibrate(np.full(52, 10.0), labels, totals)
    assert result.weights.sum() == pytest.approx(1000.0, rel=1e-3)


def _frame_tables(conn, rows):
    """Minimal sampling_frame and stg_reports rows: (survey_id, strand, area, age, ethnicity, selection)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
    conn.execute("""CREATE TABLE intermediate.sampling_frame (survey_id VARCHAR, crime_reference VARCHAR,
        victim_person_id VARCHAR, survey_strand VARCHAR, policing_area VARCHAR, victim_ethnicity VARCHAR,
        selection VARCHAR, report_month DATE)""")
    conn.execute("""CREATE TABLE staging.stg_reports (crime_reference VARCHAR, victim_person_id VARCHAR,
        victim_age INTEGER, report_date DATE)""")
    for sid, strand, area, age, ethnicity, selection in rows:
        conn.execute("INSERT INTO intermediate.sampling_frame VALUES (?, ?, 'P', ?, ?, ?, ?, DATE '2025-05-01')",
                     [sid, f"C{sid}", strand, area, ethnicity, selection])
        conn.execute("INSERT INTO staging.stg_reports VALUES (?, 'P', ?, DATE '2025-05-03')", [f"C{sid}", age])


def test_calibrated_weights_correct_a_non_response_bias(survey):
    """Young victims are less satisfied and answer less: design weights overstate satisfaction,
    calibrated weights recover the frame's figure."""

    def answered(i):  # a third of the young, three quarters of the old
        return i % 3 == 0 if i < 200 else i % 4 != 0

    rows, responses = [], []
    for i in range(400):
        young = i < 200
        sid = f"S{i:06d}"
        rows.append((sid, "ASB", "NORTH_DURHAM", 22 if young else 70, "WHITE", "SAMPLED"))
        if answered(i):
            responses.append((young, 1 if (i % 10) < (6 if young else 9) else 5))
    _frame_tables(survey.conn, rows)
    # Survey.add numbers survey_ids S000001...: give the respondents the frame's ids instead
    survey.add(date(2025, 5, 1), [code for _, code in responses], [1.0] * len(responses))
    ids = [sid for i, (sid, *_) in enumerate(rows) if answered(i)]
    survey.conn.execute("CREATE TEMP TABLE ids AS SELECT * FROM (VALUES " + ", ".join(
        f"('S{k + 1:06d}', '{sid}')" for k, sid in enumerate(ids)) + ") t(old, new)")
    survey.conn.execute("UPDATE staging.survey_responses SET survey_id = ids.new FROM ids WHERE survey_id = ids.old")
    survey.build()
    summary = weighting.calibrate_year(survey.conn, "2025/26", date(2025, 4, 1), date(2026, 4, 1))
    tables.write(survey.conn, tables.ANNUAL, tables.annual_sql(tables.Thresholds(), date(2025, 4, 1),
                                                               date(2026, 4, 1)), (date(2025, 4, 1), date(2026, 4, 1)))
    cell = survey.cell()

    def rate(group):
        codes = [code for young, code in responses if young is group]
        return sum(code <= 3 for code in codes) / len(codes)

    young_rate, old_rate = rate(True), rate(False)
    assert young_rate < old_rate - 0.2
    # the frame is half young: that is what everyone would have said, by age group
    assert cell["satisfied_pct"] == pytest.approx(100 * (young_rate + old_rate) / 2, abs=0.1)
    n_young, n_old = sum(answered(i) for i in range(200)), sum(answered(i) for i in range(200, 400))
    design_only = (n_young * young_rate + n_old * old_rate) / (n_young + n_old)
    assert cell["satisfied_pct_design"] == pytest.approx(100 * design_only, abs=0.1)
    general = next(r for r in summary if r["survey"] == "GENERAL" and r["margin"] == "ALL")
    young = next(r for r in summary if r["survey"] == "GENERAL" and r["category"] == "18-29")
    assert young["frame_pct"] == pytest.approx(50.0) and young["calibrated_pct"] == pytest.approx(50.0, abs=0.1)
    assert young["design_pct"] == pytest.approx(100 * n_young / (n_young + n_old))
    assert general["respondents"] == n_young + n_old and general["frame_victims"] == 400
    assert 0.5 < general["weighting_efficiency"] < 1.0
    total = survey.conn.execute("SELECT sum(calibrated_weight) FROM marts.responses").fetchone()[0]
    assert total == pytest.approx(400, rel=1e-3)


# ------------------------------------------------------------------ disclosure control
def _published_counts(export_rows, question):
    """(cell -> published respondents or None) from the HMICFRS export's rows."""
    return {(r["survey_strand"], r["area"]): (int(r["respondents"]) if r["respondents"] else None)
            for r in export_rows if r["question"] == question}


def _attack(published: dict) -> dict:
    """Try every margin: repeatedly solve any relation (a total and its parts) with one unknown.
    Returns the suppressed cells recovered, with their values."""
    cells = set(published)
    known = {c: v for c, v in published.items() if v is not None}
    recovered = {}
    progress = True
    while progress:
        progress = False
        for line in disclosure.constraints(cells):
            unknown = [c for c in line if c not in known]
            if len(unknown) != 1:
                continue
            total, parts = line[0], line[1:]
            (target,) = unknown
            if target == total:
                value = sum(known[c] for c in parts)
            else:
                value = known[total] - sum(known[c] for c in parts if c != target)
            known[target] = recovered[target] = value
            progress = True
    return recovered


def _small_cells_survey(survey):
    rng = np.random.default_rng(11)
    sizes = {("ASB", a): 80 for a in AREAS} | {("BURGLARY", a): 25 for a in AREAS}
    sizes |= {("HATE", "DARLINGTON"): 4, ("HATE", "NORTH_DURHAM"): 12, ("FRAUD", "EAST_DURHAM"): 6,
              ("VEHICLE", "SOUTH_DURHAM"): 3, ("VEHICLE", "DARLINGTON"): 30}
    for (strand, area), n in sizes.items():
        survey.add(date(2025, 6, 1), [int(c) for c in rng.choice([1, 2, 3, 5], n)], strand=strand, area=area)
    return sizes


def test_no_suppressed_cell_can_be_recovered_from_the_hmicfrs_export(survey):
    _small_cells_survey(survey)
    survey.build()
    rows = hmicfrs.export_rows(survey.conn, "2025/26", "DUR")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=hmicfrs.COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    published = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    published_cells = _published_counts(published, "whole_experience")
    assert None in published_cells.values()
    assert published_cells[("ALL", "ALL")] is not None  # the force total is still published
    assert _attack(published_cells) == {}
    cells = set(published_cells)
    assert disclosure.recoverable(cells, {c for c, v in published_cells.items() if v is None}) == set()
    # suppressed rows carry no figure and no base
    for row in published:
        if row["suppressed"] == "true":
            assert row["respondents"] == row["satisfied_pct"] == row["ci_low"] == row["ci_high"] == ""


def test_primary_suppression_alone_would_have_been_undone(survey):
    """The attack is real: with only the small cells hidden, subtraction recovers them."""
    sizes = _small_cells_survey(survey)
    survey.build()
    counts = {c: n for c, n in survey.conn.execute(
        "SELECT (survey_strand, area), respondents FROM marts.satisfaction_annual "
        "WHERE question = 'whole_experience' AND NOT suppressed").fetchall()}
    truth = {}
    for (strand, area), n in sizes.items():
        for key in ((strand, area), (strand, "ALL"), ("ALL", area), ("ALL", "ALL")):
            truth[key] = truth.get(key, 0) + n
    primary_only = {c: (None if n < 10 else n) for c, n in truth.items()}
    recovered = _attack(primary_only)
    assert recovered and all(truth[c] == v for c, v in recovered.items())
    assert len(counts) < len(truth)  # the marts hid more than the primary cells


# ------------------------------------------------------------------ significance
def test_benjamini_hochberg_flags():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    assert disclosure.benjamini_hochberg(p) == [True, True] + [False] * 8
    assert disclosure.benjamini_hochberg([0.01, 0.02, 0.03]) == [True, True, True]


def test_changes_are_not_tested_on_low_bases_and_carry_an_fdr_flag(survey):
    survey.add(date(2024, 6, 1), [1] * 15 + [5] * 15, strand="FRAUD")     # 50% on 30
    survey.add(date(2025, 6, 1), [1] * 28 + [5] * 2, strand="FRAUD")      # 93% on 30: low base
    survey.add(date(2024, 6, 1), [1] * 120 + [5] * 80, strand="ASB")      # 60% on 200
    survey.add(date(2025, 6, 1), [1] * 170 + [5] * 30, strand="ASB")      # 85% on 200
    survey.build()
    fraud = survey.cell(strand="FRAUD")
    assert fraud["satisfied_pct"] is not None and fraud["low_base"]
    assert fraud["change_vs_previous_pp"] is None and fraud["change_significant"] is None
    assert fraud["change_significant_fdr"] is None
    asb = survey.cell(strand="ASB")
    assert asb["change_vs_previous_pp"] == pytest.approx(25.0)
    assert asb["change_significant"] and asb["change_significant_fdr"]
    z = 25.0 / math.hypot(asb["standard_error"], survey.cell(year="2024/25", strand="ASB")["standard_error"])
    assert asb["change_p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_taylor_reference_agrees_with_the_sql_on_one_stratum():
    p, v = design.taylor_variance([1, 1, 0, 1], [1.0, 2.0, 1.0, 1.0], ["a"] * 4)
    assert p == pytest.approx(0.8)
    z = [w * (y - 0.8) / 5 for y, w in zip([1, 1, 0, 1], [1.0, 2.0, 1.0, 1.0])]
    assert v == pytest.approx(4 / 3 * sum((zi - sum(z) / 4) ** 2 for zi in z))


def test_a_year_without_calibrated_weights_is_noticed(survey):
    survey.add(date(2025, 5, 1), [1] * 12)
    survey.build()
    year = (date(2025, 4, 1), date(2026, 4, 1))
    assert weighting.unweighted_interviews(survey.conn, *year) == 0
    survey.conn.execute("UPDATE marts.responses SET calibrated_weight = NULL")
    assert weighting.unweighted_interviews(survey.conn, *year) == 12


def test_a_quarter_holding_a_suppressed_month_is_suppressed_too(survey):
    survey.add(date(2025, 4, 1), [1] * 40, strand="DOMESTIC_ABUSE")
    survey.add(date(2025, 5, 1), [1] * 3 + [5] * 3, strand="DOMESTIC_ABUSE")  # 6: suppressed month
    survey.add(date(2025, 6, 1), [1] * 40, strand="DOMESTIC_ABUSE")
    survey.add(date(2025, 7, 1), [1] * 40, strand="DOMESTIC_ABUSE")
    survey.add(date(2025, 8, 1), [1] * 40, strand="DOMESTIC_ABUSE")
    survey.build()
    quarters = dict(survey.conn.execute(
        "SELECT period_end_month, suppressed FROM marts.satisfaction_da_quarterly "
        "WHERE question = 'whole_experience'").fetchall())
    assert {m: quarters[m] for m in ("2025-04", "2025-05", "2025-06", "2025-07", "2025-08")} == {
        "2025-04": False, "2025-05": True, "2025-06": True, "2025-07": True, "2025-08": False}
    months = dict(survey.conn.execute(
        "SELECT month, respondents FROM marts.satisfaction_da_monthly WHERE question = 'whole_experience'").fetchall())
    assert months["2025-05"] is None and months["2025-04"] == 40


def test_a_suppressed_ethnic_group_shows_no_base_in_the_gap_table(survey):
    survey.add(date(2025, 4, 1), [1] * 60, ethnicity="WHITE")
    survey.add(date(2025, 4, 1), [1] * 4 + [5] * 3, ethnicity="BLACK")
    survey.build()
    white_n, minority_n, minority_pct, gap, suppressed = survey.conn.execute(
        "SELECT white_respondents, ethnic_minority_respondents, ethnic_minority_pct, gap_pp, suppressed "
        "FROM marts.satisfaction_gap WHERE question = 'whole_experience'").fetchone()
    assert white_n == 60 and minority_n is None and minority_pct is None and gap is None and suppressed


def test_a_year_in_progress_is_weighted_to_its_months_with_returns(survey):
    _frame_tables(survey.conn, [(f"S{i:06d}", "ASB", "NORTH_DURHAM", 40, "WHITE", "SAMPLED") for i in range(1, 21)])
    # June is sampled but its returns are not in yet: its victims are not part of the year so far
    survey.conn.execute("""INSERT INTO intermediate.sampling_frame
        SELECT 'J' || i, 'CJ' || i, 'P', 'ASB', 'NORTH_DURHAM', 'WHITE', 'NOT_SAMPLED', DATE '2025-06-01'
        FROM range(100) t(i)""")
    survey.add(date(2025, 5, 1), [1] * 12 + [5] * 8)
    survey.build()
    summary = weighting.calibrate_year(survey.conn, "2025/26", date(2025, 4, 1), date(2026, 4, 1))
    general = next(r for r in summary if r["survey"] == "GENERAL" and r["margin"] == "ALL")
    assert general["frame_victims"] == 20 and general["respondents"] == 20


def test_late_returns_of_a_weighted_year_do_not_block_weighting_the_next_year(survey, tmp_path):
    """Returns that reach 2024/25 after it was weighted leave it unweighted (stale) until it is weighted
    again; they must not fail the weighting of 2025/26."""
    from dagster import AssetCheckKey, DagsterInstance, materialize

    from vsat_assets.defs.annual.assets import response_weights
    from vsat_assets.defs.annual.checks import EVERY_INTERVIEW_WEIGHTED, every_interview_weighted
    from vsat_assets.warehouse import warehouse_resource

    _frame_tables(survey.conn, [(f"S{i:06d}", "ASB", "NORTH_DURHAM", 40, "WHITE", "SAMPLED") for i in range(1, 21)])
    survey.add(date(2025, 5, 1), [1] * 12 + [5] * 8)
    survey.add(date(2024, 5, 1), [1] * 15)
    survey.build()
    weighting.calibrate_year(survey.conn, "2025/26", date(2025, 4, 1), date(2026, 4, 1))
    survey.conn.execute("""INSERT INTO marts.weighting_summary
                           SELECT * REPLACE ('2024/25' AS financial_year, DATE '2024-04-01' AS year_start)
                           FROM marts.weighting_summary WHERE financial_year = '2025/26'""")
    survey.conn.execute("UPDATE marts.responses SET calibrated_weight = NULL WHERE month = '2024-05'")
    survey.conn.close()

    check = AssetCheckKey(response_weights.key, EVERY_INTERVIEW_WEIGHTED)
    with DagsterInstance.ephemeral() as instance:
        run = materialize([response_weights, every_interview_weighted], partition_key="2025-04-01", instance=instance,
                          resources={"warehouse": warehouse_resource(str(tmp_path / "method.duckdb"))},
                          raise_on_error=False)
    evaluations = [e for e in run.get_asset_check_evaluations() if e.asset_check_key == check]
    assert run.success
    assert [(e.partition, e.passed, e.metadata["unweighted_interviews"].value) for e in evaluations] == [
        ("2025-04-01", True, 0)]


def test_a_rebuild_gives_the_same_figures_to_the_last_bit(survey):
    """Re-running a year (make demo twice, a backfill after the months one by one) must give the same
    marts, not figures that differ in the last digits because DuckDB added the rows in another order."""
    import random

    rng = random.Random(7)
    for month in (date(2024, 6, 1), date(2025, 5, 1), date(2025, 9, 1)):
        for strand in ("ASB", "BURGLARY", "VIOLENCE", "DOMESTIC_ABUSE"):
            for area in AREAS:
                codes = [rng.choice([1, 2, 3, 4, 5, 8]) for _ in range(25)]
                survey.add(month, codes, [rng.uniform(1.0, 12.0) for _ in codes], strand=strand, area=area,
                           ethnicity=rng.choice(["WHITE", "BLACK"]))
    tables_built = ("satisfaction_annual", "satisfaction_gap", "satisfaction_rolling", "satisfaction_da_monthly",
                    "satisfaction_da_quarterly")

    def snapshot() -> dict:
        return {t: sorted(survey.conn.execute(f"SELECT * FROM marts.{t}").fetchall(), key=repr)
                for t in tables_built}

    survey.build()
    first = snapshot()
    for _ in range(2):
        survey.conn.execute("CREATE OR REPLACE TABLE staging.survey_responses AS "
                            "SELECT * FROM staging.survey_responses ORDER BY random()")
        survey.build()
        assert snapshot() == first


def test_a_one_month_period_is_labelled_in_the_singular(survey):
    survey.add(date(2025, 6, 1), [1] * 12)
    survey.build()
    labels = [r[0] for r in survey.conn.execute("SELECT label FROM marts.satisfaction_rolling").fetchall()]
    assert labels == ["1 month to June 2025 (partial)"]


def test_a_domestic_abuse_quarter_with_fewer_months_is_flagged_and_labelled_partial(survey):
    survey.add(date(2024, 4, 1), [1] * 30, strand="DOMESTIC_ABUSE")   # the survey's first month
    survey.add(date(2024, 5, 1), [1] * 30, strand="DOMESTIC_ABUSE")
    survey.add(date(2024, 6, 1), [1] * 30, strand="DOMESTIC_ABUSE")
    survey.build()
    quarters = survey.conn.execute(
        """SELECT period_end_month, months_covered, partial, label FROM marts.satisfaction_da_quarterly
           WHERE question = 'whole_experience' AND period_end_month <= '2024-06' ORDER BY 1""").fetchall()
    assert quarters == [
        ("2024-04", 1, True, "3 months to April 2024 (partial: 1 month with interviews)"),
        ("2024-05", 2, True, "3 months to May 2024 (partial: 2 months with interviews)"),
        ("2024-06", 3, False, "3 months to June 2024"),
    ]


def test_a_domestic_abuse_quarterly_table_made_before_partial_gets_the_column(survey):
    from vsat_assets.defs.annual import tables

    survey.add(date(2024, 4, 1), [1] * 30, strand="DOMESTIC_ABUSE")
    survey.build()
    survey.conn.execute(f"ALTER TABLE {tables.DA_QUARTERLY.name} DROP COLUMN partial")   # as an older warehouse
    survey.build(window=(date(2024, 5, 1), date(2024, 6, 1)))   # April's quarter is kept, not rewritten
    assert survey.conn.execute(
        f"SELECT DISTINCT partial FROM {tables.DA_QUARTERLY.name} WHERE period_end_month = '2024-04'").fetchall() == [
        (True,)]
