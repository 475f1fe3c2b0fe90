"""How the force compares: the comparator file, the comparison mart, the test allowing for the force
inside its comparator, the report's "How we compare" section and the gap-change sentence."""

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from vsat_assets.defs.annual import report
from vsat_assets.defs.compare import checks, files, mart, report_section, stats
from vsat_tests.test_annual_tables import Survey

YEAR, PREVIOUS = "2025/26", "2024/25"
FY_2025 = (date(2025, 4, 1), date(2026, 4, 1))
HEADER = ",".join(files.COLUMNS)
DURHAM_SHARE_OF_ENGLAND_AND_WALES = 0.011  # about 0.63 of 56 million people


def add(survey: Survey, month: date, satisfied: int, dissatisfied: int, ethnicity: str = "WHITE",
        strand: str = "ASB", area: str = "NORTH_DURHAM") -> None:
    """`satisfied` answers of 1 and `dissatisfied` of 5 to the whole experience, weight 1, in one statement
    (Survey.add inserts row by row, too slow for HMIC-sized bases)."""
    first = survey.count
    survey.count += satisfied + dissatisfied
    survey.conn.execute(f"""
        INSERT INTO staging.survey_responses
        SELECT $month, 'S' || lpad(cast({first} + i + 1 AS VARCHAR), 6, '0'), 'COMPLETE', $month, NULL, NULL, NULL,
               NULL, CASE WHEN i < {satisfied} THEN 1 ELSE 5 END, 'DUR', $strand, $area, $ethnicity, 1.0,
               'returns_test.csv'
        FROM range({satisfied + dissatisfied}) t(i)""",
        {"month": month, "strand": strand, "area": area, "ethnicity": ethnicity})


def write_comparators(folder: Path, name: str, *lines: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def eandw(period=YEAR, estimate="85.0", interval="0.2", question="whole_experience", strand="ALL",
          share=str(DURHAM_SHARE_OF_ENGLAND_AND_WALES), comparator="E&W", base=""):
    return f"{comparator},DUR,{period},{question},{strand},{estimate},{interval},{base},{share},HMIC crime inspection 2014"


def force_row(period=PREVIOUS, estimate="89.6", interval="1.5", base="1590", question="whole_experience"):
    return f"FORCE,DUR,{period},{question},ALL,{estimate},{interval},{base},,HMIC crime inspection 2014"


def build_mart(conn, start=FY_2025[0], end=FY_2025[1], low_base=50, suppress=10):
    mart.write(conn, start, end, "DUR", low_base, suppress)
    result = conn.execute(f"SELECT * FROM {mart.TABLE} ORDER BY ALL")
    names = [d[0] for d in result.description]
    return [dict(zip(names, r)) for r in result.fetchall()]


@pytest.fixture
def hmic(tmp_path):
    """Durham as HMIC described it in 2014: 88.6% of about 1,200 respondents this year."""
    conn = duckdb.connect(str(tmp_path / "compare.duckdb"))
    survey = Survey(conn)
    add(survey, date(2025, 6, 1), 1063, 137)  # 88.58% of 1,200
    yield survey
    conn.close()


# ------------------------------------------------------------------ the HMIC 2014 sentence
def test_hmic_2014_sentence_with_the_previous_year_from_the_comparator_file(hmic, tmp_path):
    folder = tmp_path / "comparators"
    write_comparators(folder, "hmic_2014.csv", eandw(), force_row())
    hmic.build()
    files.store(hmic.conn, files.read_comparator_folder(folder))

    rows = {r["comparator"]: r for r in build_mart(hmic.conn) if r["question"] == "whole_experience"}

    assert rows["E&W"]["force_pct"] == pytest.approx(88.6, abs=0.05)
    assert rows["E&W"]["force_ci_high"] - rows["E&W"]["force_ci_low"] == pytest.approx(3.6, abs=0.1)
    assert rows["E&W"]["verdict"] == "higher than"
    assert rows["PREVIOUS_YEAR"]["verdict"] == "broadly in line with"
    assert rows["PREVIOUS_YEAR"]["comparator_period"] == PREVIOUS
    assert rows["PREVIOUS_YEAR"]["comparator_source"] == "hmic_2014.csv"
    sentence = report_section.comparison_sentence(YEAR, "whole_experience", list(rows.values()))
    assert sentence == ("In 2025/26, 88.6% (± 1.8) of victims were satisfied with the whole experience: "
                        "higher than England and Wales (85.0% ± 0.2) and broadly in line with the previous year, "
                        "2024/25 (89.6% ± 1.5).")
    assert "higher than England and Wales" in sentence and "broadly in line with the previous year" in sentence


def test_hmic_2014_sentence_with_the_previous_year_from_the_survey_itself(hmic, tmp_path):
    add(hmic, date(2024, 6, 1), 1424, 166)  # 89.56% of 1,590: ± 1.5
    folder = tmp_path / "comparators"
    write_comparators(folder, "hmic_2014.csv", eandw())
    hmic.build()
    files.store(hmic.conn, files.read_comparator_folder(folder))

    rows = {r["comparator"]: r for r in build_mart(hmic.conn) if r["question"] == "whole_experience"}

    previous = rows["PREVIOUS_YEAR"]
    assert previous["comparator_source"] == "survey"
    assert previous["comparator_pct"] == pytest.approx(89.6, abs=0.05)
    assert (previous["comparator_ci_high"] - previous["comparator_ci_low"]) / 2 == pytest.approx(1.5, abs=0.05)
    page, _ = report.build_report(hmic.conn, YEAR, FY_2025[0], "Durham Constabulary", 10, synthetic=False)
    compare = page.split('<section id="compare">')[1].split("</section>")[0]
    assert "higher than England and Wales" in compare and "broadly in line with the previous year" in compare
    assert page.index('id="compare"') < page.index('id="headlines"'), "How we compare comes first"


def test_a_lower_figure_is_lower_than_and_a_small_gap_is_in_line(hmic, tmp_path):
    folder = tmp_path / "comparators"
    write_comparators(folder, "c.csv", eandw(estimate="91.5"), eandw(comparator="MSG", estimate="89.0",
                                                                    interval="0.8", share="0.15"))
    hmic.build()
    files.store(hmic.conn, files.read_comparator_folder(folder))

    rows = {r["comparator"]: r for r in build_mart(hmic.conn) if r["question"] == "whole_experience"}

    assert rows["E&W"]["verdict"] == "lower than" and rows["E&W"]["difference_ci_high"] < 0
    assert rows["MSG"]["verdict"] == "broadly in line with"
    assert rows["MSG"]["difference_ci_low"] < 0 < rows["MSG"]["difference_ci_high"]
    assert "PREVIOUS_YEAR" not in rows, "no previous year anywhere: nothing to compare with"
    assert checks.unsound_comparison_rows(hmic.conn, 10) == 0


# ------------------------------------------------------------------ the test itself
def test_the_force_inside_its_comparator_narrows_or_widens_the_difference_as_simulated():
    """var(F - C) by the formula against a simulation of 8 forces pooled by population share."""
    rng = np.random.default_rng(7)
    shares = np.array([0.30, 0.20, 0.15, 0.10, 0.10, 0.05, 0.05, 0.05])
    se = np.array([0.9, 0.6, 1.2, 1.0, 0.8, 1.5, 1.1, 0.7])  # points
    draws = rng.normal(0.0, se, size=(200_000, len(se)))
    pooled = draws @ shares
    empirical_sd = (draws[:, 0] - pooled).std()
    comparator_se = np.sqrt((shares ** 2 * se ** 2).sum())
    by_formula = stats.difference_half_width(1.96 * se[0], 1.96 * comparator_se, shares[0]) / 1.96
    independent = np.hypot(se[0], comparator_se)
    assert by_formula == pytest.approx(empirical_sd, rel=0.01)
    assert abs(independent - empirical_sd) > 0.05 * empirical_sd, "ignoring the overlap would be wrong here"
    assert stats.difference_half_width(1.8, 0.2, 0.0) == pytest.approx(np.hypot(1.8, 0.2))


def test_verdicts_follow_the_interval_of_the_difference():
    assert stats.compare(88.6, 1.8, 85.0, 0.2, 0.011).verdict == stats.HIGHER
    assert stats.compare(88.6, 1.8, 89.6, 1.5).verdict == stats.IN_LINE
    assert stats.compare(80.0, 1.0, 85.0, 0.2, 0.011).verdict == stats.LOWER
    edge = stats.compare(87.0, 1.8, 85.0, 0.2, 0.0)
    assert edge.significant == (2.0 > np.hypot(1.8, 0.2))
    with pytest.raises(ValueError):
        stats.difference_half_width(1.0, 1.0, 1.0)


# ------------------------------------------------------------------ disclosure control
def test_suppressed_and_low_base_cells_are_not_compared(tmp_path):
    conn = duckdb.connect(str(tmp_path / "small.duckdb"))
    survey = Survey(conn)
    add(survey, date(2025, 6, 1), 150, 20, strand="ASB")
    add(survey, date(2025, 6, 1), 5, 2, strand="HATE", area="NORTH_DURHAM")  # 7: suppressed
    add(survey, date(2025, 6, 1), 12, 2, strand="HATE", area="DARLINGTON")   # so Hate ALL is 21: low base
    add(survey, date(2025, 6, 1), 12, 2, strand="VEHICLE", area="NORTH_DURHAM")
    survey.build()
    folder = tmp_path / "comparators"
    write_comparators(folder, "c.csv", eandw(), eandw(strand="HATE", estimate="70.0", interval="3.0"),
                      force_row(period=PREVIOUS, base="8"))
    files.store(conn, files.read_comparator_folder(folder))

    rows = build_mart(conn)

    hate = next(r for r in rows if r["survey_strand"] == "HATE")
    assert hate["force_respondents"] == 21 and hate["low_base"] and hate["verdict"] is None
    previous = next(r for r in rows if r["comparator"] == "PREVIOUS_YEAR" and r["survey_strand"] == "ALL")
    assert previous["suppressed"] and previous["comparator_pct"] is None and previous["difference_pp"] is None
    assert previous["verdict"] is None
    published = {(r[0], r[1]) for r in conn.execute(
        "SELECT survey_strand, area FROM marts.satisfaction_annual WHERE NOT suppressed "
        "AND question = 'whole_experience'").fetchall()}
    assert all((r["survey_strand"], "ALL") in published for r in rows if r["force_pct"] is not None)
    assert checks.unsound_comparison_rows(conn, 10) == 0
    conn.execute(f"UPDATE {mart.TABLE} SET verdict = 'higher than' WHERE survey_strand = 'HATE'")
    assert checks.unsound_comparison_rows(conn, 10) == 1, "the check catches a low base called higher"
    conn.close()


def test_rebuilding_a_year_replaces_its_rows_and_keeps_the_others(hmic, tmp_path):
    add(hmic, date(2024, 6, 1), 1424, 166)
    hmic.build()
    both = build_mart(hmic.conn, date(2024, 4, 1), date(2026, 4, 1))
    again = build_mart(hmic.conn)
    assert again == both
    assert {r["financial_year"] for r in again} == {YEAR}, "2024/25 has no previous year and no comparator"


# ------------------------------------------------------------------ the comparator file
@pytest.mark.parametrize("line, column, problem", [
    (eandw(comparator="WALES"), "comparator", "'WALES' is not a comparator"),
    ("E&W,,2025/26,whole_experience,ALL,85.0,0.2,,0.011,", "force", "is empty but the column is required"),
    (eandw(period="2025/27"), "period", "is not a financial year"),
    (eandw(question="overall"), "question", "'overall' is not a question"),
    (eandw(strand="SHOPLIFTING"), "survey_strand", "is not a survey strand"),
    (eandw(estimate='"85,0"'), "estimate", "'85,0' is not a number"),
    (eandw(estimate="185.0"), "estimate", "is outside 0 to 100"),
    (eandw(interval="0"), "interval", "is 0"),
    (force_row(base=""), "base", "a force's figure needs its respondents"),
    (force_row(base="12.5"), "base", "is not a number of respondents"),
    (eandw(share=""), "force_share", "is empty but the column is required"),
    (eandw(share="1"), "force_share", "is 1"),
    (force_row().replace(",,HMIC", ",0.2,HMIC"), "force_share", "must be empty on a FORCE row"),
])
def test_a_bad_value_names_file_line_and_column(tmp_path, line, column, problem):
    folder = tmp_path / "comparators"
    write_comparators(folder, "hmic_2014.csv", eandw(period="2024/25"), eandw(period="2023/24"), line)
    with pytest.raises(files.ComparatorFileError) as caught:
        files.read_comparator_folder(folder)
    message = str(caught.value)
    assert message.startswith(f"hmic_2014.csv, line 4 (data row 3), column {column}: "), message
    assert problem in message


def test_a_bad_file_leaves_the_stored_figures_as_they_were(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    folder = tmp_path / "comparators"
    write_comparators(folder, "a.csv", eandw())
    files.store(conn, files.read_comparator_folder(folder))
    write_comparators(folder, "b.csv", eandw(period="2024/25"), '"E&W","DUR"')  # a short row
    with pytest.raises(files.ComparatorFileError, match=r"^b\.csv, line 3 \(data row 2\): the row has 2 fields"):
        files.store(conn, files.read_comparator_folder(folder))
    assert conn.execute(f"SELECT period, estimate FROM {files.TABLE}").fetchall() == [(YEAR, 85.0)]
    conn.close()


def test_file_faults_and_repeats_across_files(tmp_path):
    folder = tmp_path / "comparators"
    write_comparators(folder, "a.csv", eandw())
    write_comparators(folder, "b.csv", force_row(), eandw())
    with pytest.raises(files.ComparatorFileError) as caught:
        files.read_comparator_folder(folder)
    assert str(caught.value).startswith("b.csv, line 3 (data row 2), column comparator: comparator, force, period, "
                                        "question and survey_strand repeat those of a.csv line 2")
    (folder / "b.csv").write_text(HEADER.replace(",source", "") + "\n", encoding="utf-8")
    with pytest.raises(files.ComparatorFileError, match=r"^b\.csv: missing column\(s\): source$"):
        files.read_comparator_folder(folder)
    (folder / "b.csv").write_bytes((HEADER + "\n" + eandw(period="2024/25") + "\n").encode() + b"\xff\n")
    with pytest.raises(files.ComparatorFileError, match=r"^b\.csv, line 3 \(data row 2\): bytes on line 3 are not"):
        files.read_comparator_folder(folder)
    (folder / "b.csv").write_text(HEADER + "\n" + eandw(period="2024/25") + "\n"
                                  + eandw(period="2023/24").rsplit(",", 1)[0] + ',"HMIC\nreport"\n'
                                  + eandw(period="2022/23", estimate="x") + "\n", encoding="utf-8")
    with pytest.raises(files.ComparatorFileError, match=r"^b\.csv, line 3 \(data row 2\), column source: the cell "
                                                        "holds a control character"):
        files.read_comparator_folder(folder)
    assert files.read_comparator_folder(tmp_path / "absent") == []


# ------------------------------------------------------------------ the gap between groups
def _gap_survey(tmp_path, em_previous: int, em_now: int) -> Survey:
    """White victims 90% both years; ethnic-minority victims' satisfied out of 200 in each year."""
    conn = duckdb.connect(str(tmp_path / "gap.duckdb"))
    survey = Survey(conn)
    for month, em in ((date(2024, 6, 1), em_previous), (date(2025, 6, 1), em_now)):
        add(survey, month, 900, 100)
        add(survey, month, em, 200 - em, ethnicity="BLACK")
    survey.build()
    return survey


def test_a_significant_widening_of_the_gap_is_said_in_words(tmp_path):
    survey = _gap_survey(tmp_path, em_previous=176, em_now=140)  # gap 2 -> 20 points
    sentence = report_section.gap_change_sentence(survey.conn, YEAR, PREVIOUS)
    assert sentence == ("The gap between white and ethnic-minority victims' satisfaction with the whole experience "
                        "(white minus ethnic-minority) widened significantly, from 2.0 points in 2024/25 "
                        "to 20.0 points in 2025/26.")
    page, _ = report.build_report(survey.conn, YEAR, FY_2025[0], "Durham Constabulary", 10, synthetic=False)
    assert "widened significantly" in page.split('<section id="compare">')[1].split("</section>")[0]
    survey.conn.close()


def test_a_gap_that_moves_within_chance_is_not_called_significant(tmp_path):
    survey = _gap_survey(tmp_path, em_previous=170, em_now=164)  # gap 5 -> 8 points on 200 each
    sentence = report_section.gap_change_sentence(survey.conn, YEAR, PREVIOUS)
    assert sentence == ("The gap between white and ethnic-minority victims' satisfaction with the whole experience "
                        "(white minus ethnic-minority) went from 5.0 points in 2024/25 to 8.0 points in 2025/26: "
                        "not a significant change.")
    survey.conn.close()


def test_a_gap_narrows_or_reverses_only_as_the_figures_say():
    def said(previous, now, each_significant=True):
        change = stats.GapChange(PREVIOUS, YEAR, previous, now, 4.0, abs(now - previous) > 4.0, each_significant)
        return change.sentence("the whole experience").split(") ")[1]

    assert said(12.0, 3.0).startswith("narrowed significantly, from 12.0 points")
    assert said(6.0, -6.0).startswith("reversed significantly, from 6.0 points in 2024/25 to -6.0 points")
    assert said(-0.4, 13.6, each_significant=False).startswith("widened significantly, from -0.4 points")


def test_no_gap_sentence_without_two_tested_years(tmp_path):
    conn = duckdb.connect(str(tmp_path / "gap1.duckdb"))
    survey = Survey(conn)
    add(survey, date(2025, 6, 1), 900, 100)
    add(survey, date(2025, 6, 1), 150, 50, ethnicity="BLACK")
    add(survey, date(2024, 6, 1), 900, 100)
    add(survey, date(2024, 6, 1), 20, 5, ethnicity="BLACK")  # 25: under the low base, not tested
    survey.build()
    assert report_section.gap_change_sentence(conn, YEAR, PREVIOUS) is None
    conn.close()


# ------------------------------------------------------------------ through Dagster
def test_the_assets_import_the_file_compare_and_refuse_a_bad_file(
        tmp_path, monkeypatch, resources, materialize_vsat, failure_messages, warehouse_rows):
    """A force that runs alone: every figure from the published file, the HMIC 2014 sentence out."""
    folder = tmp_path / "comparators"
    monkeypatch.setenv("VSAT_COMPARATOR_DIR", str(folder))
    write_comparators(folder, "hmic_2014.csv", eandw(),
                      force_row(period=YEAR, estimate="88.6", interval="1.8", base="1200"), force_row())
    selection = ["comparator_figures", "satisfaction_comparison"]

    done = materialize_vsat(resources, partition="2025-04-01", selection=selection)

    assert done.success
    checks_run = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
                  for e in done.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks_run["only_published_figures_compared"] is True
    verdicts = warehouse_rows(resources["warehouse"], f"SELECT comparator, verdict, force_source FROM {mart.TABLE}")
    assert verdicts == [("E&W", "higher than", "hmic_2014.csv"), ("PREVIOUS_YEAR", "broadly in line with",
                                                                  "hmic_2014.csv")]

    write_comparators(folder, "later.csv", eandw(period="2026/27", estimate="85.O"))
    failed = materialize_vsat(resources, selection=["comparator_figures"])

    assert not failed.success
    assert any(m.rstrip().endswith("later.csv, line 2 (data row 1), column estimate: '85.O' is not a number "
                          "(digits and a decimal point, e.g. 85.0)") for m in failure_messages(failed)), failure_messages(failed)
    assert warehouse_rows(resources["warehouse"], f"SELECT count(*) FROM {files.TABLE}") == [(3,)]


# ------------------------------------------------------------------ the simulation of make validate
def test_planted_and_null_differences_are_worded_at_the_test_s_rates():
    from vsat_assets.contractor_sim import comparisons

    planted, null, group_planted, group_null = (
        comparisons.simulate(scenario, 400, seed=11) for scenario in comparisons.SCENARIOS)
    assert planted.expected_higher == pytest.approx(0.895, abs=0.01)
    assert abs(planted.higher - planted.expected_higher) < 0.05 and planted.lower == 0
    assert null.in_line > 0.91 and null.higher < 0.06 and null.lower < 0.06
    # the force is a quarter of its group: allowing for it keeps 5% under the null and gains power
    assert 0.92 < group_null.in_line < 0.975 and group_null.naive_in_line > group_null.in_line + 0.02
    assert group_planted.higher > group_planted.naive_higher + 0.03



def test_one_run_over_two_years_writes_each_year_and_records_its_own_figures(
        tmp_path, monkeypatch, resources, materialize_vsat, failure_messages, warehouse_rows, dagster_instance):
    from dagster import AssetKey, AssetRecordsFilter

    folder = tmp_path / "comparators"
    monkeypatch.setenv("VSAT_COMPARATOR_DIR", str(folder))
    write_comparators(folder, "published.csv", eandw(), eandw(period=PREVIOUS, estimate="84.0"),
                      force_row(period=YEAR, estimate="88.6", interval="1.8", base="1200"), force_row(),
                      force_row(period="2023/24", estimate="70.0", interval="2.0", base="1500"))
    assert materialize_vsat(resources, selection=["comparator_figures"]).success

    done = materialize_vsat(resources, partition_range=("2024-04-01", "2025-04-01"),
                            selection=["satisfaction_comparison"])

    assert done.success, failure_messages(done)
    rows = warehouse_rows(resources["warehouse"],
                          f"SELECT financial_year, comparator, verdict FROM {mart.TABLE}")
    assert rows == [(PREVIOUS, "E&W", "higher than"), (PREVIOUS, "PREVIOUS_YEAR", "higher than"),
                    (YEAR, "E&W", "higher than"), (YEAR, "PREVIOUS_YEAR", "broadly in line with")]
    for key in ("2024-04-01", "2025-04-01"):
        [record] = dagster_instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("satisfaction_comparison"), asset_partitions=[key]), limit=1).records
        assert record.asset_materialization.metadata["dagster/row_count"].value == 2
