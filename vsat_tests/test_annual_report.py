"""The HMICFRS export and the annual HTML report, on hand-made responses (see test_annual_tables)."""

import csv
import re
import struct
import zlib
from datetime import date
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from vsat_assets.defs.annual import hmicfrs, report
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
    # 12 vehicle crimes beside it: suppressed too (secondary), or East Durham's total would give Hate crime away
    survey.add(date(2025, 8, 1), [1] * 12, strand="VEHICLE", area="EAST_DURHAM")
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
    assert force["suppressed"] == "false" and force["respondents"] == "157"
    assert re.fullmatch(r"\d+\.\d", force["satisfied_pct"])
    assert not list(tmp_path.joinpath("exports").glob(".*")), "no temporary file left behind"


def _report(built) -> tuple[str, list]:
    return report.build_report(built.conn, YEAR, YEAR_START, "Durham Constabulary", 10)


def test_report_is_self_contained_with_headline_and_nothing_suppressed(built):
    page, items = _report(built)
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page, re.I)
    assert get_plotlyjs() in page
    whole = next(h for h in items if h.question == "whole_experience")
    pct = 100 * (82 + 30 + 3 + 12) / 157
    assert whole.satisfied_pct == pytest.approx(pct)
    assert f"{pct:.0f}% of victims were satisfied with the whole experience" in page
    figures = page.replace(get_plotlyjs(), "")
    assert "HATE" not in figures and "EAST_DURHAM" not in figures
    assert "DOMESTIC_ABUSE" not in figures and "Domestic abuse survey" in figures
    assert "2024/25" in figures  # the trend has both years
    markdown = report.headline_markdown(items)
    assert "| Whole experience |" in markdown and "157" in markdown


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


def _visible(page: str) -> str:
    from vsat_tests.browser import visible_text

    return visible_text(page)


def test_every_chart_is_followed_by_its_table_with_labels_and_marks(built):
    page, _ = report.build_report(built.conn, YEAR, YEAR_START, "Durham Constabulary", 10, 50,
                                  produced_on=date(2026, 4, 7), synthetic=True)
    body = page.split("<body>", 1)[1]
    figures = body.split("<figure")[1:]
    charted = re.findall(r'<figure class="chart" aria-describedby="table-([^"]+)"', body)
    assert charted == ["year-on-year", "spc", "rolling", "q-whole_experience", "domestic-abuse"]
    for chunk in figures:
        assert "<table>" in chunk.split("</figure>", 1)[1].split("<figure", 1)[0], chunk[:200]
    text = _visible(body)
    for expected in ("Contents", "Produced on 7 April 2026", "Synthetic data", "April 2025 to March 2026",
                     "Month by month: control chart", "Domestic abuse survey", "Year on year"):
        assert expected in text, expected
    # Labels, never codes
    assert "Anti-social behaviour" in text and "North Durham" in text and "Whole experience" in text
    for code in ("ASB", "NORTH_DURHAM", "whole_experience", "DOMESTIC_ABUSE", "BURGLARY"):
        assert re.search(rf"\b{code}\b", text) is None, code
    # The suppressed strand is marked and shows no figure; the low base is marked with its base.
    hate = re.search(r"<tr class=\"suppressed\"><th scope=\"row\">Strand: Hate crime</th>(.*?)</tr>", page)
    assert hate and re.findall(r"<td>(.*?)</td>", hate.group(1))[:3] == ["", "", ""]
    assert "Suppressed: fewer than 10 respondents" in hate.group(1)
    burglary = re.search(r"<tr class=\"low-base\"><th scope=\"row\">Strand: Burglary</th>(.*?)</tr>", page)
    assert burglary and "<td>40</td>" in burglary.group(1) and "Low base" in burglary.group(1)
    # Axes follow the figures instead of running from 0 to 100.
    assert '"range":[0,100]' not in page.replace(" ", "")


def test_year_on_year_has_both_years_and_the_change(built):
    page, _ = _report(built)
    table = page.split('id="table-year-on-year"')[1].split("</table>")[0]
    assert ">2024/25<" in table and ">2025/26<" in table
    cell = built.cell()
    assert f"{cell['change_vs_previous_pp']:+.1f}" in table


def test_no_synthetic_notice_for_the_force_own_records(built, monkeypatch):
    monkeypatch.setenv("VSAT_REPORT_SOURCE", "exports")
    page, _ = _report(built)
    assert "Synthetic data" not in page
    monkeypatch.setenv("VSAT_REPORT_SOURCE", "generator")
    assert "Synthetic data" in _report(built)[0]


def _months(*pairs, weight=1.0, first=date(2024, 4, 1)):
    """p-chart rows, one month each, from (respondents, satisfied); every weight `weight`."""
    rows = []
    for k, (n, sat) in enumerate(pairs):
        month = date(first.year + (first.month - 1 + k) // 12, (first.month - 1 + k) % 12 + 1, 1)
        rows.append({"month_start": month, "respondents": n, "sw": weight * n, "sw2": weight * weight * n,
                     "swy": weight * sat})
    return rows


def _all(months):
    return {m["month_start"] for m in months}


def test_p_chart_centre_limits_and_signals():
    months = _months((100, 80), (400, 320), (100, 60))
    centre, points = report.spc_points(months, _all(months), run=8)
    assert centre == pytest.approx(100 * 460 / 600)
    p = 460 / 600
    assert points[0]["ucl"] == pytest.approx(100 * (p + 3 * (p * (1 - p) / 100) ** 0.5))
    assert points[1]["ucl"] - points[1]["lcl"] < points[0]["ucl"] - points[0]["lcl"]  # a bigger base, narrower
    assert [pt["outside"] for pt in points] == [False, False, True]  # 60% is below 76.7 - 12.7
    assert [pt["direction"] for pt in points] == [0, 0, -1]  # below: worse
    # eight months in a row above the centre line are a run; seven are not
    months = _months(*([(100, 80)] * 8 + [(100, 70)] * 9))
    _, points = report.spc_points(months, _all(months), run=8)
    assert all(pt["in_run"] for pt in points[:8]) and all(pt["in_run"] for pt in points[8:])
    assert {pt["direction"] for pt in points[:8]} == {1} and {pt["direction"] for pt in points[8:]} == {-1}
    months = _months(*([(100, 80)] * 7 + [(100, 70)] * 7))
    _, points = report.spc_points(months, _all(months), run=8)
    assert not any(pt["in_run"] for pt in points)


def test_p_chart_limits_use_the_effective_sample_size():
    """Unequal weights: a month's limits are those of Kish's effective n, sw^2 / sw2, not of its base."""
    month = {"month_start": date(2025, 4, 1), "respondents": 100, "sw": 100 * 3.0, "sw2": 50 * 1.0 + 50 * 25.0,
             "swy": 50 * 1.0 * 0.9 + 50 * 5.0 * 0.7}  # half the weights 1, half 5
    centre, (point,) = report.spc_points([month], {month["month_start"]})
    n_eff = 300.0 ** 2 / 1300.0  # 69 of 100
    assert point["effective_n"] == pytest.approx(n_eff)
    assert centre == pytest.approx(100 * (45 + 175) / 300)  # weighted, not the unweighted 80%
    c = centre / 100
    assert point["ucl"] - point["lcl"] == pytest.approx(2 * 300 * (c * (1 - c) / n_eff) ** 0.5)


def test_p_chart_judges_a_step_against_its_baseline_not_the_pooled_months():
    """A year at 80% then a year at 86%: pooled over both years the centre sits between them and the
    step is split into two runs (a worse and a better); against the first year's baseline only the
    second year is judged, and it signals better throughout."""
    months = _months(*([(300, 240)] * 12 + [(300, 258)] * 12))
    baseline = {m["month_start"] for m in months[:12]}
    centre, points = report.spc_points(months, baseline)
    assert centre == pytest.approx(80.0)
    assert not any(p["judged"] for p in points[:12]) and all(p["judged"] for p in points[12:])
    assert [p["direction"] for p in points[12:]] == [1] * 12
    assert all(p["direction"] == 0 for p in points[:12])
    pooled_centre, pooled = report.spc_points(months, _all(months))
    assert pooled_centre == pytest.approx(83.0)
    assert [p["direction"] for p in pooled] == [-1] * 12 + [1] * 12


def test_p_chart_in_the_report_is_weighted_with_a_stated_baseline_and_coloured_signals(two_full_years):
    conn = two_full_years.conn
    # weights that move the figure (half the dissatisfied count double), then a step up in 2025/26
    # (a third of the dissatisfied satisfied instead)
    conn.execute("""UPDATE marts.responses SET calibrated_weight = 2 * calibrated_weight
                    WHERE whole_experience > 3 AND hash(survey_id) % 2 = 0""")
    conn.execute("""UPDATE marts.responses SET whole_experience = 1
                    WHERE month_start >= DATE '2025-04-01' AND whole_experience > 3 AND hash(survey_id) % 3 = 0""")
    page, _ = report.build_report(conn, YEAR, YEAR_START, "Durham Constabulary", 10, 50, synthetic=True)
    section = page.split('id="spc"')[1].split("</section>")[0].replace("\\u002f", "/")  # plotly's JSON escapes /
    text = _visible(section)
    assert "baseline, the months of 2024/25" in text and "weighted" in text and "effective" in text
    centre = conn.execute("""SELECT 100 * sum(calibrated_weight) FILTER (WHERE whole_experience <= 3)
                                   / sum(calibrated_weight) FROM marts.responses
                             WHERE survey_strand <> 'DOMESTIC_ABUSE' AND whole_experience BETWEEN 1 AND 7
                               AND month_start < DATE '2025-04-01'""").fetchone()[0]
    assert f"Centre line {centre:.1f}% (baseline 2024/25)" in section
    unweighted = conn.execute("""SELECT 100 * avg((whole_experience <= 3)::int) FROM marts.responses
                                 WHERE survey_strand <> 'DOMESTIC_ABUSE' AND whole_experience BETWEEN 1 AND 7
                                   AND month_start < DATE '2025-04-01'""").fetchone()[0]
    assert abs(centre - unweighted) > 0.1  # the weights matter here
    # the step up is better, in green, and the legend says which colour is which
    assert "Signal: better (more satisfied)" in section and "Signal: worse (less satisfied)" in section
    better = re.search(r'\{[^{]*"marker":\{"color":"%s".*?"name":"Signal: better' % report.SPC_BETTER, section)
    assert better and '"symbol":"triangle-up"' in better.group(0)
    table = section.split('id="table-spc"')[1]
    assert table.count('class="signal-better"') == 12 and 'class="signal-worse"' not in table
    assert table.count("Baseline month") == 12


def test_domestic_abuse_on_rolling_quarters_with_low_bases_marked(built):
    page, _ = _report(built)
    table = page.split('id="table-domestic-abuse"')[1].split("</table>")[0]
    rows = re.findall(r"<tr class=\"([^\"]*)\"><th scope=\"row\">([^<]*)</th>(.*?)</tr>", table)
    by_label = {label: (css, cells) for css, label, cells in rows}
    # September's 15 interviews fall in the quarters ending September, October and November.
    for quarter in ("Jul\u2013Sep 2025", "Aug\u2013Oct 2025", "Sep\u2013Nov 2025"):
        css, cells = by_label[quarter]
        assert css == "low-base" and "<td>15</td>" in cells and "Low base" in cells
    assert "Oct\u2013Dec 2025" not in by_label  # no interviews in that quarter


@pytest.fixture
def two_full_years(tmp_path):
    """20 interviews a month per strand, every question answered, over 2024/25 and 2025/26: a full-length report."""
    import duckdb

    from vsat_assets.vocabulary import SURVEY_STRANDS

    conn = duckdb.connect(str(tmp_path / "full.duckdb"))
    survey = Survey(conn)
    code = "CASE WHEN (i * 7 + m + s) % 10 < 8 THEN 1 + (i + m) % 3 ELSE 4 + (i + s) % 4 END"
    conn.execute(f"""
        INSERT INTO staging.survey_responses
        SELECT d, 'F' || m || '-' || s || '-' || i, 'COMPLETE', d, {code}, {code}, {code}, {code}, {code}, 'DUR',
               ?[s + 1], ['NORTH_DURHAM', 'EAST_DURHAM', 'SOUTH_DURHAM', 'DARLINGTON'][(s + i) % 4 + 1],
               CASE WHEN i % 6 = 0 THEN 'ASIAN' ELSE 'WHITE' END, 1.0 + (s % 3), 'returns_test.csv'
        FROM (SELECT m, (DATE '2024-04-01' + to_months(m))::DATE AS d FROM range(24) t(m)),
             range({len(SURVEY_STRANDS)}) u(s), range(20) v(i)""", [list(SURVEY_STRANDS)])
    survey.build()
    yield survey
    conn.close()


@pytest.mark.slow
def test_report_prints_to_pdf_with_every_chart_whole(two_full_years, tmp_path):
    browser = pytest.importorskip("vsat_tests.browser")
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed: run scripts/install_test_deps.sh")
    page, items = report.build_report(two_full_years.conn, YEAR, YEAR_START, "Durham Constabulary", 10, 50,
                                      synthetic=True)
    html_path = tmp_path / "report.html"
    html_path.write_text(page, encoding="utf-8")
    pdf = browser.print_to_pdf(html_path.as_uri(), tmp_path / "report.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    pages = text.split("\f")
    flat = " ".join(text.split())
    whole = next(h for h in items if h.question == "whole_experience")
    for expected in (whole.sentence(), "Synthetic data", "Contents", "Produced on", "control chart",
                     "Domestic abuse survey", "About these figures"):
        assert expected in flat, expected
    # Every chart's own title (drawn in its SVG) is on the same page as its caption below it: no chart is cut.
    titles = re.findall(r'"title":\{"font":\{"size":15\},"text":"([^"]+)"', page)
    captions = re.findall(r"<figcaption>(Figure \d+):", page)
    assert len(titles) == len(captions) >= 10 and len(pages) > len(titles)
    for title, caption in zip(titles, captions):
        title = title.encode().decode("unicode_escape")
        on = [i for i, p in enumerate(pages) if title[:40] in " ".join(p.split())]
        assert on and any(f"{caption}:" in pages[i] for i in on), (title, caption)


def test_a_partial_rolling_period_is_never_called_12_months_in_the_chart(built):
    page, _ = _report(built)
    chart = page.split('id="rolling"')[1].split('id="table-rolling"')[0]
    assert "(partial)" in chart and "12 months to %{x}" not in chart and "12 months to 2 months" not in chart


def test_the_headlines_say_who_the_figures_describe_and_who_the_rules_leave_out():
    from vsat_assets.defs.annual.report import coverage_text

    text = coverage_text({"eligible": 900, "opted_out": 50, "recently_surveyed": 40, "no_phone": 10,
                          "duplicate_in_month": 0, "sensitive": None})
    assert "900 of 1,000 such victims (90.0%)" in text
    assert "50 had asked not to be surveyed, 40 had been surveyed in the last 12 months, 10 had no usable phone" in text
    assert "in sensitive" not in text and "another report" not in text  # reasons with nobody are not listed
    assert coverage_text({"eligible": 0}) == "" and coverage_text(None) == ""
