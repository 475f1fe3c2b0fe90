"""The analysts' file and extracts: opened by the DuckDB CLI the set-up installs, documented,
labelled, and the extracts suppressed and formula-safe like the marts."""

import csv
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from vsat_assets import lookups
from vsat_assets.contractor_sim.simulate import simulate_returns
from vsat_assets.defs.publish.assets import STORAGE_VERSION, publish
from vsat_assets.defs.publish.dictionary import marts_documentation
from vsat_tests.test_annual_tables import Survey
from vsat_tests.test_docs_and_bench import readme_queries

CLI = Path(sys.executable).parent / "duckdb"


def cli(database: Path, sql: str) -> str:
    """Run `sql` in the DuckDB shell that `make install` put in .venv, read-only, CSV output."""
    assert CLI.exists(), f"{CLI} missing: `make install` installs duckdb-cli"
    result = subprocess.run([str(CLI), "-readonly", "-csv", str(database)], input=sql,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    return result.stdout


def _docs():
    from vsat_assets.definitions import defs

    return marts_documentation(list(defs.assets))


@pytest.fixture
def hand_made(tmp_path):
    """Hand-made responses in two years, built and published; HATE is suppressed (5 answers)."""
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    survey = Survey(conn)
    survey.add(date(2024, 6, 1), [1] * 80 + [5] * 20, strand="ASB")
    survey.add(date(2025, 6, 1), [1] * 82 + [5] * 18, strand="ASB", area="NORTH_DURHAM")
    survey.add(date(2025, 8, 1), [1, 1, 1, 5, 7], strand="HATE", area="EAST_DURHAM")
    survey.build()
    # A text cell a spreadsheet would run as a formula (codes never look like this; the guard must still hold).
    conn.execute("""UPDATE marts.satisfaction_annual SET financial_year = '=HYPERLINK("x")'
                    WHERE survey_strand = 'ASB' AND area = 'NORTH_DURHAM' AND financial_year = '2024/25'""")
    published, folder = tmp_path / "vsat_analytics.duckdb", tmp_path / "extracts" / "2026-04-05"
    publish(conn, published, _docs(), folder)
    yield {"conn": conn, "file": published, "extracts": folder}
    conn.close()


def test_file_is_in_the_documented_storage_version_and_opens_in_the_cli(hand_made):
    with duckdb.connect(str(hand_made["file"]), read_only=True) as conn:
        assert conn.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                            "WHERE database_name = current_database()").fetchone()[0].startswith(STORAGE_VERSION)
    out = cli(hand_made["file"], "SELECT version();")
    assert out.splitlines()[1].startswith("v1."), out  # a 1.x client reads it


def test_every_table_and_column_has_a_comment(hand_made):
    with duckdb.connect(str(hand_made["file"]), read_only=True) as conn:
        tables = conn.execute("SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()
        columns = conn.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                               "WHERE schema_name = 'marts'").fetchall()
    assert {"lookups", "data_dictionary", "satisfaction_annual"} <= {t for t, _ in tables}
    assert [t for t, comment in tables if not comment] == []
    assert [(t, c) for t, c, comment in columns if not comment] == []


def test_extracts_blank_suppressed_rows_and_are_formula_safe(hand_made):
    folder = hand_made["extracts"]
    with duckdb.connect(str(hand_made["file"]), read_only=True) as conn:
        tables = {t for (t,) in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name <> 'data_dictionary'"
        ).fetchall()}
    assert {p.stem for p in folder.glob("*.csv")} == tables == {p.stem for p in folder.glob("*.parquet")}
    with (folder / "satisfaction_annual.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    hate = [r for r in rows if r["survey_strand"] == "HATE"]
    assert hate and all(r["suppressed"] == "true" for r in hate)
    figures = ("respondents", "effective_n", "satisfied_pct", "ci_low", "ci_high", "completely_or_very_pct")
    assert all(r[c] == "" for r in hate for c in figures)
    force = next(r for r in rows if (r["financial_year"], r["question"], r["survey_strand"], r["area"])
                 == ("2025/26", "whole_experience", "ALL", "ALL"))
    assert force["suppressed"] == "false" and force["respondents"] == "105"
    parquet = duckdb.sql(f"SELECT respondents, satisfied_pct FROM '{folder / 'satisfaction_annual.parquet'}' "
                         "WHERE survey_strand = 'HATE'").fetchall()
    assert parquet and all(r == (None, None) for r in parquet)
    text = (folder / "satisfaction_annual.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and '\n"=HYPERLINK' not in text


def test_lookups_label_every_code_of_the_marts(hand_made):
    _assert_every_code_labelled(hand_made["file"])


def _assert_every_code_labelled(path: Path) -> None:
    with duckdb.connect(str(path), read_only=True) as conn:
        known = set(conn.execute("SELECT kind, code FROM marts.lookups").fetchall())
        assert conn.execute("SELECT count(*) FROM marts.lookups WHERE coalesce(label, '') = '' "
                            "OR coalesce(definition, '') = ''").fetchone()[0] == 0
        columns = conn.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'marts' "
                               "AND table_name NOT IN ('lookups', 'data_dictionary')").fetchall()
        checked = 0
        for kind, names in lookups.CODE_COLUMNS.items():
            for table, column in columns:
                if column in names:
                    used = {v for (v,) in conn.execute(f"SELECT DISTINCT {column} FROM marts.{table}").fetchall()
                            if v is not None}
                    assert {(kind, v) for v in used} <= known, (table, column, used - {c for k, c in known})
                    checked += len(used)
        assert {("answer_code", str(a)) for a in range(1, 8)} <= known
        funnel = [c for t, c in columns if t == "survey_funnel"]
        for column in funnel[funnel.index("eligible"):funnel.index("sampled")] if funnel else []:
            assert ("exclusion_reason", column.upper()) in known, column
    assert checked > 0


def _headline(path: Path, year: str) -> str:
    with duckdb.connect(str(path), read_only=True) as conn:
        pct = conn.execute(
            "SELECT satisfied_pct FROM marts.satisfaction_annual WHERE financial_year = ? "
            "AND question = 'whole_experience' AND survey_strand = 'ALL' AND area = 'ALL'", [year]).fetchone()[0]
    return f"{pct:.1f}"


def test_readme_headline_query_gives_the_headline_in_the_cli(hand_made):
    headline_query = readme_queries()[0]
    assert "satisfaction_annual" in headline_query
    out = cli(hand_made["file"], headline_query + ";")
    assert f"2025/26,{_headline(hand_made['file'], '2025/26')}," in out, out


@pytest.mark.slow
def test_pipeline_publishes_a_file_the_cli_answers_every_readme_query_on(
    generator_handoffs, tmp_path, monkeypatch, materialize_vsat, failure_messages
):
    """The generator's April and May 2025 through returns, the annual tables and publishing;
    then every example query of docs/analysts.md through the real CLI, and the lookups over real codes."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("VSAT_DATA_DIR", str(data))
    for month in ("2025-04", "2025-05"):
        simulate_returns(tmp_path / "outbox" / f"handoff_{month}.csv", tmp_path / "inbox")
    result = materialize_vsat(generator_handoffs, partition_range=("2025-04-01", "2025-05-01"),
                              selection=["survey_responses", "responses", "survey_funnel", "exclusion_audit",
                                         "report_volumes", "satisfaction_da_monthly"])
    assert result.success, failure_messages(result)
    result = materialize_vsat(generator_handoffs, partition="2025-04-01",
                              selection=["response_weights", "satisfaction_annual", "satisfaction_gap"])
    assert result.success, failure_messages(result)
    result = materialize_vsat(generator_handoffs, selection=["satisfaction_rolling", "analytics_file"])
    assert result.success, failure_messages(result)

    published = data / "vsat_analytics.duckdb"
    queries = readme_queries()
    outputs = [cli(published, query + ";") for query in queries]
    assert all(len(out.splitlines()) > 1 for out in outputs), outputs  # each query returns rows
    assert f"2025/26,{_headline(published, '2025/26')}," in outputs[0]
    _assert_every_code_labelled(published)
    assert sorted(p.name for p in (data / "extracts").iterdir()) == [date.today().isoformat()]
