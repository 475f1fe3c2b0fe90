"""The HMICFRS export and the annual HTML report, on hand-made responses (see test_annual_tables)."""

import csv
import re
import struct
import zlib
from datetime import date
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from vsat_assets.annual import hmicfrs, report
from vsat_tests.test_annual_tables import Survey

YEAR, YEAR_START = "2025/26", date(2025, 4, 1)


@pytest.fixture
def built(tmp_path):
    import duckdb

    conn = duckdb.connect(str(tmp_path / "report.duckdb"))
    survey = Survey(conn)
    survey.add(date(2024, 6, 1), [1] * 80 + [5] * 20, strand="ASB")
    survey.add(date(2025, 6, 1), [1] * 82 + [5] * 18, strand="ASB", area="NORTH_DURHAM")
    survey.add(date(2025, 7, 1), [1] * 30 + [6] * 10, strand="BURGLARY", area="DARLINGTON")
    survey.add(date(2025, 8, 1), [1, 1, 1, 5, 7], strand="HATE", area="EAST_DURHAM")  # 5: suppressed
    survey.add(date(2025, 9, 1), [2] * 12 + [7] * 3, strand="DOMESTIC_ABUSE")
    survey.build()
    yield survey
    conn.close()


def test_hmicfrs_export_layout_and_blank_suppressed_cells(built, tmp_path):
    path = tmp_path / "exports" / hmicfrs.export_name(YEAR)
    hmicfrs.write_export(path, hmicfrs.export_rows(built.conn, YEAR, "DUR"))
    assert path.name == "hmicfrs_vsat_2025-26.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(hmicfrs.COLUMNS)
    first = rows[0]
    assert (first["force_code"], first["financial_year"], first["question"], first["survey_strand"], first["area"]) \
        == ("DUR", YEAR, "ease_of_contact", "ALL", "ALL")
    hate = [r for r in rows if r["survey_strand"] == "HATE" and r["question"] == "whole_experience"]
    assert hate and all(r["suppressed"] == "true" for r in hate)
    assert all(r[c] == "" for r in hate for c in ("respondents", "satisfied_pct", "ci_low", "ci_high"))
    force = next(r for r in rows if r["question"] == "whole_experience" and r["survey_strand"] == "ALL"
                 and r["area"] == "ALL")
    assert force["suppressed"] == "false" and force["respondents"] == "145"
    assert re.fullmatch(r"\d+\.\d", force["satisfied_pct"])
    assert not list(tmp_path.joinpath("exports").glob(".*")), "no temporary file left behind"


def _report(built) -> tuple[str, list]:
    return report.build_report(built.conn, YEAR, YEAR_START, "Durham Constabulary", 10)


def test_report_is_self_contained_with_headline_and_nothing_suppressed(built):
    page, items = _report(built)
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page, re.I)
    assert get_plotlyjs() in page
    whole = next(h for h in items if h.question == "whole_experience")
    pct = 100 * (82 + 30 + 3) / 145
    assert whole.satisfied_pct == pytest.approx(pct)
    assert f"{pct:.0f}% of victims were satisfied with the whole experience" in page
    figures = page.replace(get_plotlyjs(), "")
    assert "HATE" not in figures and "EAST_DURHAM" not in figures
    assert "DOMESTIC_ABUSE" not in figures and "Domestic abuse survey" in figures
    assert "2024/25" in figures  # the trend has both years
    markdown = report.headline_markdown(items)
    assert "| Whole experience |" in markdown and "145" in markdown


def _png_has_content(path: Path) -> bool:
    """True when the PNG's pixels are not all one colour (decodes 8-bit RGB/RGBA, non-interlaced)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    chunks, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(chunks)
    channels = {2: 3, 6: 4}[colour]
    stride = width * channels + 1
    # Filter bytes aside, a blank page of one colour gives rows of zeros after the first (Up/Sub filters)
    # or identical rows; count distinct row payloads as a cheap content measure.
    rows = {raw[i * stride + 1:(i + 1) * stride] for i in range(height)}
    return depth == 8 and len(rows) > 20


@pytest.mark.slow
def test_report_renders_in_headless_chromium(built, tmp_path):
    browser = pytest.importorskip("vsat_tests.browser")
    try:
        browser.chromium_path()
    except FileNotFoundError:
        pytest.skip("chromium not installed: run scripts/install_test_deps.sh")
    page, items = _report(built)
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    url = path.as_uri()
    dom = browser.dump_dom(url, budget_ms=8000)
    whole = next(h for h in items if h.question == "whole_experience")
    assert whole.sentence() in browser.visible_text(dom)
    assert dom.count('class="main-svg"') >= 6
    png = browser.screenshot(url, tmp_path / "report.png", budget_ms=8000)
    assert _png_has_content(png)
