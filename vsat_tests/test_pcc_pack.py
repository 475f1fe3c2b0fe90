"""The Police and Crime Commissioner's quarterly pack (vsat_assets/defs/quarterly/): quarter keys and the
schedule, the red/amber/green rule, and the pack built by its asset on hand-made responses (the annual
report's fixtures): the page printed to PDF in headless Chromium, the spreadsheet read back with pandas
(ODS through odfpy) and openpyxl (XLSX) against the marts, suppressed cells blank."""

import shutil
import subprocess
from datetime import date, datetime

import pytest
from dagster import build_schedule_context, materialize

from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.compare import files
from vsat_assets.defs.quarterly import quarters
from vsat_assets.defs.quarterly.assets import pack_paths, pcc_quarterly_pack
from vsat_assets.defs.quarterly.schedules import pcc_quarterly_pack_schedule, quarter_just_reported_key
from vsat_assets.defs.quarterly.targets import AMBER, GREEN, RED, PackTargets, rag
from vsat_assets.partitions import TIMEZONE
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import warehouse_resource
from vsat_tests.test_annual_report import built, two_full_years  # noqa: F401 (fixtures reused)
from vsat_tests.test_comparisons import build_mart, eandw, write_comparators

Q4_2025_26 = "2026-01-01"  # January to March 2026: the complete year is 2025/26


# --------------------------------------------------------------------- quarters and the schedule
@pytest.mark.parametrize(("when", "expected"), [
    (datetime(2025, 10, 15, 7), "2025-04-01"),   # the day the pack of April-June runs
    (datetime(2025, 10, 14, 23), "2025-01-01"),  # the day before: still January-March
    (datetime(2025, 12, 31), "2025-04-01"),
    (datetime(2026, 1, 15, 7), "2025-07-01"),
    (datetime(2026, 4, 15, 7), "2025-10-01"),
    (datetime(2026, 7, 15, 7), "2026-01-01"),
    (date(2026, 3, 1), "2025-07-01"),
])
def test_quarter_just_reported_key(when, expected):
    assert quarter_just_reported_key(when) == expected


def test_schedule_requests_the_quarter_whose_returns_are_due():
    from zoneinfo import ZoneInfo

    when = datetime(2026, 7, 15, 7, tzinfo=ZoneInfo(TIMEZONE))
    request = pcc_quarterly_pack_schedule(build_schedule_context(scheduled_execution_time=when))
    assert request.partition_key == "2026-01-01" and request.run_key == "2026-01-01"
    assert "2026-01-01" in quarters.quarter_partitions.get_partition_keys(current_time=when)
    assert pcc_quarterly_pack_schedule.cron_schedule == "0 7 15 1,4,7,10 *"


def test_quarter_labels_and_years():
    assert quarters.quarter_partitions.get_partition_keys(current_time=datetime(2019, 10, 2)) == [
        "2019-04-01", "2019-07-01"]
    start = quarters.quarter_start_of(Q4_2025_26)
    assert quarters.quarter_label(start) == "Q4 2025/26 (January to March 2026)"
    assert quarters.last_month(start) == date(2026, 3, 1)
    assert quarters.last_complete_year_start(start) == date(2025, 4, 1)
    assert quarters.last_complete_year_start(date(2025, 10, 1)) == date(2024, 4, 1)
    with pytest.raises(ValueError, match="first day of a quarter"):
        quarters.quarter_start_of("2025-05-01")


# --------------------------------------------------------------------- the rating
@pytest.mark.parametrize(("low", "high", "expected"), [
    (82.0, 86.0, GREEN),   # the whole interval at or above the target (its lower end on it)
    (83.5, 90.0, GREEN),
    (80.0, 84.0, AMBER),   # straddles it
    (78.0, 82.0, AMBER),   # upper end on the target: not wholly below
    (75.0, 81.9, RED),     # the whole interval below
    (None, None, None),    # not published: not rated
])
def test_rag_follows_the_interval_against_the_target(low, high, expected):
    assert rag(low, high, 82.0) == expected


def test_rag_refuses_an_upside_down_interval():
    with pytest.raises(ValueError, match="lower bound above"):
        rag(85.0, 80.0, 82.0)


# --------------------------------------------------------------------- the pack, built by its asset
def _materialise(conn, tmp_path, monkeypatch, targets: dict | None = None):
    monkeypatch.setenv("VSAT_DATA_DIR", str(tmp_path / "data"))
    conn.execute("CHECKPOINT")
    database = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    conn.close()  # the asset opens the file itself
    result = materialize(
        [pcc_quarterly_pack], partition_key=Q4_2025_26,
        resources={"warehouse": warehouse_resource(database), "annual": AnnualSettings(), "survey": SurveySettings()},
        run_config={"ops": {"pcc_quarterly_pack": {"config": targets or {}}}},
    )
    assert result.success
    import duckdb

    return duckdb.connect(database, read_only=True), pack_paths(Q4_2025_26)


@pytest.fixture
def full_pack(two_full_years, tmp_path, monkeypatch):  # noqa: F811
    """Two full years of interviews, England and Wales figures for 2025/26, the pack of January-March 2026."""
    conn = two_full_years.conn
    files.store(conn, files.read_comparator_folder(write_comparators(tmp_path / "comparators", "ew.csv",
                                                                     eandw(estimate="70.0")).parent))
    build_mart(conn)
    read, paths = _materialise(conn, tmp_path, monkeypatch, {"general_whole_experience_pct": 50.0})
    two_full_years.conn = read  # closed by the fixture
    yield read, paths


def _marts(conn, sql, params=()):
    result = conn.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, r)) for r in result.fetchall()]


def _pdf_text(html_path, tmp_path) -> str:
    browser = pytest.importorskip("vsat_tests.browser")
    try:
        browser.chromium_path()
    except FileNotFoundError:
        pytest.skip("chromium not installed: run scripts/install_test_deps.sh")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed: run scripts/install_test_deps.sh")
    pdf = browser.print_to_pdf(html_path.as_uri(), tmp_path / "pack.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


@pytest.mark.slow
def test_pack_prints_to_pdf_with_its_headline_figures(full_pack, tmp_path):
    conn, paths = full_pack
    rolling = _marts(conn, "SELECT * FROM marts.satisfaction_rolling WHERE period_end = DATE '2026-03-01'")[0]
    da = _marts(conn, "SELECT * FROM marts.satisfaction_da_quarterly WHERE period_end = DATE '2026-03-01' "
                      "AND question = 'whole_experience'")[0]
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script src=" not in page and "Plotly" in page  # self-contained
    flat = _pdf_text(paths["html"], tmp_path)
    for expected in ("Q4 2025/26 (January to March 2026)", "12 months to March 2026",
                     f"{rolling['satisfied_pct']:.1f}%", f"{rolling['ci_low']:.1f}% to {rolling['ci_high']:.1f}%",
                     f"{da['satisfied_pct']:.1f}%", "target of 50%", "England and Wales", "Synthetic data",
                     "rolling 12 months", "by policing area", "ethnic-minority"):
        assert expected in flat, expected
    assert "green against the target of 50%" in flat  # the whole interval well above 50
    # plotly drew the chart (its title is SVG text, there only when the script ran in Chromium)
    assert "Whole experience, rolling 12 months to each quarter's end" in flat


def _ods(path, sheet):
    import pandas as pd

    return pd.read_excel(path, sheet_name=sheet, engine="odf", header=1)


def _xlsx(path, sheet):
    """The sheet's table under gptables' title, subtitles and instructions: from its header row on."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=False)
    ws = book[sheet]
    assert not ws.merged_cells.ranges, f"{sheet}: merged cells"
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows, book.sheetnames


def test_spreadsheet_tables_equal_the_marts(full_pack):
    conn, paths = full_pack
    import pandas as pd

    sheets = pd.ExcelFile(paths["ods"], engine="odf").sheet_names
    assert sheets[:3] == ["Cover", "Contents", "Notes"]
    assert {"Targets", "Rolling_12_months", "Domestic_abuse", "Ethnic_minority_gap", "By_strand", "By_area",
            "England_and_Wales"} <= set(sheets)
    title = pd.read_excel(paths["ods"], sheet_name="By_strand", engine="odf", header=None).iloc[0, 0]
    assert title == "Whole experience by survey strand, 2025/26 against 2024/25"

    annual = {r["survey_strand"]: r for r in _marts(
        conn, "SELECT * FROM marts.satisfaction_annual WHERE financial_year = '2025/26' AND question = "
              "'whole_experience' AND area = 'ALL' AND survey_strand <> 'ALL'")}
    strands = _ods(paths["ods"], "By_strand")
    assert len(strands) == len(annual)
    from vsat_assets.lookups import label
    for _, row in strands.iterrows():
        code = next(c for c in annual if label("strand", c) == row["Survey strand"])
        mart = annual[code]
        assert row["Respondents"] == mart["respondents"]
        assert row["Satisfied (%)"] == pytest.approx(round(mart["satisfied_pct"], 1))
        assert row["Lower 95% limit (%)"] == pytest.approx(round(mart["ci_low"], 1))
        assert row["Upper 95% limit (%)"] == pytest.approx(round(mart["ci_high"], 1))

    rolling = {r["label"]: r for r in _marts(conn, "SELECT * FROM marts.satisfaction_rolling")}
    for _, row in _ods(paths["ods"], "Rolling_12_months").iterrows():
        assert row["Satisfied (%)"] == pytest.approx(round(rolling[row["Period"]]["satisfied_pct"], 1))

    ew = _marts(conn, "SELECT * FROM marts.satisfaction_comparison WHERE financial_year = '2025/26' "
                      "AND comparator = 'E&W' AND survey_strand = 'ALL' AND question = 'whole_experience'")[0]
    compared = _ods(paths["ods"], "England_and_Wales").set_index("Question").loc["Whole experience"]
    assert compared["England and Wales satisfied (%)"] == pytest.approx(70.0)
    assert compared["Force satisfied (%)"] == pytest.approx(round(ew["force_pct"], 1))
    assert compared["Verdict"] == ew["verdict"] == "higher than"

    da = {r["question"]: r for r in _marts(conn, "SELECT * FROM marts.satisfaction_da_quarterly "
                                                  "WHERE period_end = DATE '2026-03-01'")}
    for _, row in _ods(paths["ods"], "Domestic_abuse").iterrows():
        code = next(q for q in da if label("question", q) == row["Question"])
        assert row["Respondents"] == da[code]["respondents"]
        assert row["Satisfied (%)"] == pytest.approx(round(da[code]["satisfied_pct"], 1))

    areas = {label("area", r["area"]): r for r in _marts(
        conn, "SELECT * FROM marts.satisfaction_annual WHERE financial_year = '2025/26' AND question = "
              "'whole_experience' AND survey_strand = 'ALL' AND area <> 'ALL'")}
    by_area = _ods(paths["ods"], "By_area")
    assert set(by_area["Policing area"]) == set(areas)
    for _, row in by_area.iterrows():
        mart = areas[row["Policing area"]]
        assert row["Satisfied (%)"] == pytest.approx(round(mart["satisfied_pct"], 1))
        assert row["Change (points)"] == pytest.approx(round(mart["change_vs_previous_pp"], 1))

    gaps = {r["financial_year"]: r for r in _marts(conn, "SELECT * FROM marts.satisfaction_gap "
                                                         "WHERE question = 'whole_experience'")}
    gap_sheet = _ods(paths["ods"], "Ethnic_minority_gap")
    assert list(gap_sheet["Financial year"]) == ["2024/25", "2025/26"]
    for _, row in gap_sheet.iterrows():
        assert row["Gap (points)"] == pytest.approx(round(gaps[row["Financial year"]]["gap_pp"], 1))

    targets = _ods(paths["ods"], "Targets").set_index("Measure")
    assert targets.loc["General survey", "Target (%)"] == 50.0 and targets.loc["General survey", "Rating"] == "Green"

    # The XLSX (gptables): the same strand rows, no merged cells, cover, contents and notes sheets.
    rows, names = _xlsx(paths["xlsx"], "By_strand")
    assert names[:3] == ["Cover", "Contents", "Notes"]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Survey strand")
    body = [r for r in rows[header + 1:] if r[0]]
    assert len(body) == len(annual)
    for r in body:
        code = next(c for c in annual if label("strand", c) == r[0])
        assert r[1] == annual[code]["respondents"] and r[2] == pytest.approx(round(annual[code]["satisfied_pct"], 1))
    for sheet in names:
        _xlsx(paths["xlsx"], sheet)  # every sheet: no merged cells
    assert not list(paths["html"].parent.glob(".*")), "no temporary file left behind"


# --------------------------------------------------------------------- the gap's sentence
def _gap(year, gap, half=2.0, tested=True):
    return {"financial_year": year, "suppressed": False, "gap_pp": gap, "gap_significant": tested or None,
            "white_ci_low": 80 - half, "white_ci_high": 80 + half,
            "ethnic_minority_ci_low": 80 - gap - half, "ethnic_minority_ci_high": 80 - gap + half}


def test_the_gap_gets_a_sentence_only_when_it_moves_significantly():
    from vsat_assets.defs.quarterly.figures import _gap_sentence

    # Half-widths of 2 points per group: each year's gap +-2.83, the change's +-4.0.
    moved = _gap_sentence([_gap("2024/25", 10.0), _gap("2025/26", 3.0)])
    assert moved and "narrowed significantly" in moved and "from 10.0 points in 2024/25 to 3.0 points in 2025/26" in moved
    assert _gap_sentence([_gap("2024/25", 10.0), _gap("2025/26", 7.0)]) is None  # within chance
    assert _gap_sentence([_gap("2024/25", 10.0), {**_gap("2025/26", 0.0), "suppressed": True}]) is None
    assert _gap_sentence([_gap("2025/26", 10.0)]) is None  # one year: no trend yet


def test_a_suppressed_cell_shows_no_figure_and_no_base(built, tmp_path, monkeypatch):  # noqa: F811
    conn, paths = _materialise(built.conn, tmp_path, monkeypatch)
    built.conn = conn
    hidden = _marts(conn, "SELECT survey_strand FROM marts.satisfaction_annual WHERE financial_year = '2025/26' "
                          "AND question = 'whole_experience' AND area = 'ALL' AND suppressed")
    assert {r["survey_strand"] for r in hidden} >= {"HATE"}
    from vsat_assets.lookups import label

    strands = _ods(paths["ods"], "By_strand").set_index("Survey strand")
    for code in (r["survey_strand"] for r in hidden):
        row = strands.loc[label("strand", code)]
        figures = [c for c in strands.columns if c != "Note"]
        assert row[figures].isna().all(), (code, row.to_dict())
        assert row["Note"].startswith("Suppressed")
    page = paths["html"].read_text(encoding="utf-8")
    table = page.split('id="by_strand"')[1].split("</table>")[0]
    hate_row = table.split(f">{label('strand', 'HATE')}</th>")[1].split("</tr>")[0]
    assert "<td></td>" * 4 in hate_row and "Suppressed" in hate_row
    assert "S0000" not in page  # no survey_id (respondent-level) anywhere


def test_a_quarter_before_any_mart_is_built_gives_a_pack_that_says_so(tmp_path, monkeypatch):
    import duckdb
    import pandas as pd

    conn, paths = _materialise(duckdb.connect(str(tmp_path / "empty.duckdb")), tmp_path, monkeypatch)
    conn.close()
    page = paths["html"].read_text(encoding="utf-8")
    assert "General survey, 12 months to March 2026: no figure published." in page
    assert pd.read_excel(paths["ods"], sheet_name="By_strand", engine="odf", header=1).empty
    rows, _ = _xlsx(paths["xlsx"], "By_strand")
    assert any(r and r[0] == "No figures published yet" for r in rows)
