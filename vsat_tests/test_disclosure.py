"""Two tiers of output: the analysts' file and the extracts hold disclosure-controlled
aggregates only; respondent-level rows go to the restricted file, and only where configured.
The attack on a whole demo's outputs is in test_demo.py (disclosure_attack.py)."""

import stat
from datetime import date

import duckdb
import pytest
from dagster import materialize

from vsat_assets.defs.publish import published
from vsat_assets.defs.publish.assets import publish
from vsat_assets.defs.publish.restricted import restricted_file
from vsat_assets.warehouse import WarehouseResource
from vsat_tests.disclosure_attack import MICRODATA_COLUMNS
from vsat_tests.test_analysts_file import _docs
from vsat_tests.test_annual_tables import Survey


@pytest.fixture
def built(tmp_path):
    conn = duckdb.connect(str(tmp_path / "vsat.duckdb"))
    survey = Survey(conn)
    survey.add(date(2025, 6, 1), [1] * 80 + [5] * 20, strand="ASB")
    survey.add(date(2025, 8, 1), [1, 1, 1, 5, 7], strand="HATE", area="EAST_DURHAM")
    survey.build()
    yield conn
    conn.close()


def test_the_published_file_and_extracts_hold_only_the_allowed_aggregates(built, tmp_path):
    target, folder = tmp_path / "vsat_analytics.duckdb", tmp_path / "extracts" / "2026-04-05"
    publish(built, target, _docs(), folder)
    with duckdb.connect(str(target), read_only=True) as conn:
        tables = {t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'")
                  .fetchall()}
        columns = {c for (c,) in conn.execute("SELECT column_name FROM duckdb_columns()").fetchall()}
    assert "responses" not in tables and tables - {"lookups", "data_dictionary"} <= set(published.PUBLISHED_TABLES)
    assert not columns & MICRODATA_COLUMNS
    assert not (folder / "responses.csv").exists() and not (folder / "responses.parquet").exists()
    for extract in folder.glob("*.parquet"):
        names = {r[0] for r in duckdb.sql(f"DESCRIBE SELECT * FROM '{extract}'").fetchall()}
        assert not names & MICRODATA_COLUMNS, extract


def test_a_marts_table_nobody_has_decided_on_stops_the_publish_and_keeps_the_file(built, tmp_path):
    target = tmp_path / "vsat_analytics.duckdb"
    publish(built, target, _docs())
    before = target.read_bytes()
    built.execute("CREATE TABLE marts.respondent_scratch AS SELECT survey_id FROM marts.responses")
    with pytest.raises(published.UndecidedTable, match=r"respondent_scratch.*published\.py"):
        publish(built, target, _docs())
    assert target.read_bytes() == before


def _weighting(conn, rows):
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    conn.execute("CREATE OR REPLACE TABLE marts.weighting_summary (financial_year VARCHAR, survey VARCHAR, "
                 "margin VARCHAR, category VARCHAR, respondents BIGINT)")
    conn.executemany("INSERT INTO marts.weighting_summary VALUES ('2025/26', ?, ?, ?, ?)", rows)


def test_weighting_summary_hides_counts_under_ten_with_a_complement_and_every_general_stratum():
    conn = duckdb.connect()
    _weighting(conn, [
        ("GENERAL", "ALL", "ALL", 300), ("GENERAL", "ethnic_group", "WHITE", 260),
        ("GENERAL", "ethnic_group", "ETHNIC_MINORITY", 4), ("GENERAL", "ethnic_group", "NOT_STATED", 36),
        ("GENERAL", "age_band", "18-29", 100), ("GENERAL", "age_band", "30-44", 200),
        ("GENERAL", "age_band", "UNKNOWN", 0),
        ("GENERAL", "stratum", "ASB|DARLINGTON", 150), ("GENERAL", "stratum", "ASB|EAST_DURHAM", 150),
    ])
    hidden = {(m, c) for _, _, m, c in published.hidden_weighting_categories(conn)}
    # 4 is under the threshold; NOT_STATED (the smallest other) hides it from 300 - 260 - x.
    assert {("ethnic_group", "ETHNIC_MINORITY"), ("ethnic_group", "NOT_STATED")} <= hidden
    assert ("ethnic_group", "WHITE") not in hidden and ("ALL", "ALL") not in hidden
    assert not {("age_band", c) for c in ("18-29", "30-44", "UNKNOWN")} & hidden  # 0 has nobody to protect
    assert {("stratum", "ASB|DARLINGTON"), ("stratum", "ASB|EAST_DURHAM")} <= hidden


def test_the_restricted_file_is_written_only_where_configured_and_only_for_its_owner(built, tmp_path, monkeypatch):
    built.close()
    resources = {"warehouse": WarehouseResource(database=str(tmp_path / "vsat.duckdb"))}
    monkeypatch.setenv("VSAT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VSAT_RESTRICTED_FILE", raising=False)
    result = materialize([restricted_file], resources=resources)
    assert result.success
    assert [p.name for p in tmp_path.rglob("*restricted*")] == []
    target = tmp_path / "restricted" / "vsat_restricted.duckdb"
    monkeypatch.setenv("VSAT_RESTRICTED_FILE", str(target))
    assert materialize([restricted_file], resources=resources).success
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with duckdb.connect(str(target), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM marts.responses").fetchone()[0] == 105
