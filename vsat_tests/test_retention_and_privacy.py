"""Retention of personal data, and an end-to-end privacy scan of everything the platform publishes.

The retention tests start from one generator build (April-May 2025 at SMALL_SCALE, hand-offs
answered by the contractor stand-in and ingested) made once per session and copied into each
test's tmp_path. `retention_purge` takes its `as_of` date from run config, so these tests call
`dagster.materialize` themselves on the `dagster_instance` fixture.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, materialize

from vsat_assets.contractor_sim.simulate import simulate_returns
from vsat_assets.defs.handoff.assets import HandoffSettings, retention_run_config
from vsat_assets.defs.responses.assets import ContractorInbox
from conftest import TO_HANDOFF, cached_state

APRIL = "2025-04-01"
MAY = "2025-05-01"
RANGE_TAGS = {"dagster/asset_partition_range_start": APRIL, "dagster/asset_partition_range_end": MAY}
PERSONAL = ("title", "forename", "surname", "phone_number")
HOLDS_PERSONAL = " OR ".join(f"{c} IS NOT NULL" for c in PERSONAL)
PSEUDONYMOUS_COHORT = (
    "SELECT sampling_month, report_date, survey_id, person_key, phone_key, force_code, survey_strand, "
    "policing_area, victim_ethnicity, handoff_date, contact_from, contact_until, design_weight, "
    "stratum_eligible, stratum_sampled FROM intermediate.sampled_cohort"
)
KEPT = {
    "cohort": PSEUDONYMOUS_COHORT,
    "responses": "SELECT * FROM staging.survey_responses",
    "register": "SELECT * FROM ops.opt_out_register",
    "history": "SELECT * FROM ops.contact_history",
    "frame": "SELECT * FROM intermediate.sampling_frame",
}
CHECK = "no_personal_data_past_retention"
AFTER_RETENTION = "2026-01-01"   # both months' windows closed more than 90 days before
BEFORE_RETENTION = "2025-08-01"  # windows still open or recently closed


# ----------------------------------------------------------------------------- helpers
def _assets() -> list:
    from vsat_assets.definitions import defs

    return [*defs.assets, *(defs.asset_checks or ())]


def run_assets(instance, resources: dict, selection, as_of: str | None = None, tags=None, partition=None):
    run_config = retention_run_config(as_of) if as_of else None
    return materialize(_assets(), resources=resources, instance=instance, selection=selection,
                       run_config=run_config, tags=tags, partition_key=partition, raise_on_error=False)


def purge(instance, resources: dict, as_of: str):
    result = run_assets(instance, resources, ["retention_purge"], as_of=as_of)
    assert result.success
    metadata = result.asset_materializations_for_node("retention_purge")[0].metadata
    checks = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
    assert len(checks) == 1
    return {k: v.value for k, v in metadata.items()}, checks[0]




@pytest.fixture
def answered(generator_handoffs, tmp_path, tmp_path_factory, materialize_vsat) -> dict:
    """`generator_handoffs` with both months answered by the stand-in and ingested."""
    def build() -> None:
        for month in ("2025-04", "2025-05"):
            simulate_returns(tmp_path / "outbox" / f"handoff_{month}.csv", tmp_path / "inbox")
        result = materialize_vsat(generator_handoffs, partition_range=(APRIL, MAY), selection=["survey_responses"])
        assert result.success

    cached_state(tmp_path_factory, tmp_path, "generator-2025-04-to-05-responses", build)
    return generator_handoffs


def kept(warehouse_rows, resources) -> dict:
    return {name: warehouse_rows(resources["warehouse"], sql) for name, sql in KEPT.items()}


def personal_rows(warehouse_rows, resources, month: str | None = None) -> int:
    where = f" AND sampling_month = DATE '{month}'" if month else ""
    return warehouse_rows(
        resources["warehouse"], f"SELECT count(*) FROM intermediate.sampled_cohort WHERE ({HOLDS_PERSONAL}){where}"
    )[0][0]


def handoff_files(outbox: Path) -> list[str]:
    return sorted(p.name for p in outbox.glob("handoff_*.csv*"))


# ---------------------------------------------------------------------------- retention
def test_purge_after_retention_blanks_names_and_phones_and_deletes_the_files(
    answered, tmp_path, dagster_instance, warehouse_rows
):
    outbox = tmp_path / "outbox"
    before = kept(warehouse_rows, answered)
    holding = personal_rows(warehouse_rows, answered)
    assert holding > 0 and before["responses"]
    assert handoff_files(outbox) == ["handoff_2025-04.csv", "handoff_2025-05.csv"]

    done, check = purge(dagster_instance, answered, AFTER_RETENTION)

    assert personal_rows(warehouse_rows, answered) == 0
    assert kept(warehouse_rows, answered) == before  # pseudonymous columns, responses, registers untouched
    assert handoff_files(outbox) == []
    assert sorted(p.name for p in outbox.iterdir()) == [
        "handoff_2025-04.manifest.json", "handoff_2025-05.manifest.json"]
    assert (done["cohort_rows_blanked"], done["handoff_months_purged"], done["files_deleted"]) == (holding, 2, 2)
    assert warehouse_rows(answered["warehouse"], "SELECT count(*) FROM ops.handoff_log WHERE purged_at IS NULL") \
        == [(0,)]
    assert check.passed

    # A second purge has nothing left to do.
    done, check = purge(dagster_instance, answered, AFTER_RETENTION)
    assert (done["cohort_rows_blanked"], done["handoff_months_purged"], done["files_deleted"]) == (0, 0, 0)
    assert check.passed


def test_purge_before_retention_keeps_everything(answered, tmp_path, dagster_instance, warehouse_rows):
    outbox = tmp_path / "outbox"
    before = kept(warehouse_rows, answered)
    holding = personal_rows(warehouse_rows, answered)
    files = {p.name: p.read_bytes() for p in outbox.iterdir()}

    done, check = purge(dagster_instance, answered, BEFORE_RETENTION)

    assert (done["cohort_rows_blanked"], done["handoff_months_purged"], done["files_deleted"]) == (0, 0, 0)
    assert personal_rows(warehouse_rows, answered) == holding
    assert kept(warehouse_rows, answered) == before
    assert {p.name: p.read_bytes() for p in outbox.iterdir()} == files
    assert check.passed


def test_retention_runs_exactly_retention_days_after_each_window_closes(
    answered, tmp_path, dagster_instance, warehouse_rows
):
    warehouse = answered["warehouse"]
    (last_day,), = warehouse_rows(
        warehouse, f"SELECT max(contact_until) FROM intermediate.sampled_cohort WHERE sampling_month = DATE '{APRIL}'")
    may_personal = personal_rows(warehouse_rows, answered, MAY)
    on_the_day = last_day + timedelta(days=90)

    # On day 90 after April's last window: earlier windows are purged, the last one and the file are kept.
    done, check = purge(dagster_instance, answered, on_the_day.isoformat())
    left = warehouse_rows(
        warehouse,
        f"SELECT DISTINCT contact_until FROM intermediate.sampled_cohort WHERE ({HOLDS_PERSONAL}) "
        f"AND sampling_month = DATE '{APRIL}'")
    assert left == [(last_day,)]
    assert done["cohort_rows_blanked"] > 0 and done["files_deleted"] == 0
    assert (tmp_path / "outbox" / "handoff_2025-04.csv").exists()
    assert check.passed

    # The day after, April is gone; May's windows are still within retention.
    done, check = purge(dagster_instance, answered, (on_the_day + timedelta(days=1)).isoformat())
    assert personal_rows(warehouse_rows, answered, APRIL) == 0
    assert handoff_files(tmp_path / "outbox") == ["handoff_2025-05.csv"]
    assert personal_rows(warehouse_rows, answered, MAY) == may_personal
    assert (done["handoff_months_purged"], done["files_deleted"]) == (1, 1)
    assert check.passed


def test_a_rebuild_after_a_purge_brings_no_name_or_phone_back_and_sends_nothing(
    answered, tmp_path, dagster_instance, warehouse_rows, failure_messages
):
    """Measured before: rebuilding sampled_cohort after a purge brought the names and phones back."""
    purge(dagster_instance, answered, AFTER_RETENTION)
    before = kept(warehouse_rows, answered)
    # A backfill rebuilds both months' cohorts from the staged reports, which still hold the names.
    rebuilt = run_assets(dagster_instance, answered, ["sampled_cohort"], tags=RANGE_TAGS)
    assert rebuilt.success
    assert personal_rows(warehouse_rows, answered) == 0
    assert kept(warehouse_rows, answered)["cohort"] == before["cohort"]

    # April was sent: it is settled, so the hand-off keeps it as sent and writes nothing.
    again = run_assets(dagster_instance, answered, ["contractor_handoff"], partition=APRIL)
    assert again.success, failure_messages(again)
    assert handoff_files(tmp_path / "outbox") == []

    done, check = purge(dagster_instance, answered, AFTER_RETENTION)
    assert done["cohort_rows_blanked"] == 0
    assert check.passed


def test_partial_files_of_interrupted_writes_are_found_by_the_check_and_removed_by_the_purge(
    answered, tmp_path, dagster_instance
):
    """Measured before: `.handoff_YYYY-MM.csv.*.partial` with names survived re-runs and purges,
    and the retention check passed."""
    outbox = tmp_path / "outbox"
    partial = outbox / ".handoff_2025-05.csv.k2j3h4.partial"
    partial.write_bytes((outbox / "handoff_2025-05.csv").read_bytes()[:300])

    result = materialize(_assets(), resources=answered, instance=dagster_instance,
                         selection=AssetSelection.checks(AssetCheckKey(AssetKey("retention_purge"), CHECK)),
                         run_config={"ops": {f"retention_purge_{CHECK}": {"config": {"as_of": BEFORE_RETENTION}}}},
                         raise_on_error=False)
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == CHECK)
    assert not check.passed and check.metadata["handoff_files_past_retention"].value == 1

    done, check = purge(dagster_instance, answered, BEFORE_RETENTION)
    assert done["partial_files_deleted"] == 1 and not partial.exists()
    assert check.passed


def test_retention_check_fails_while_personal_data_is_held_past_retention(
    answered, tmp_path, dagster_instance
):
    # A copy of a purged hand-off turns up in the outbox again (restored from a backup, say),
    # and the purge has not run since: the check, run on its own, says so.
    outbox = tmp_path / "outbox"
    copy = (outbox / "handoff_2025-04.csv").read_bytes()
    purge(dagster_instance, answered, AFTER_RETENTION)
    (outbox / "handoff_2025-04.csv").write_bytes(copy)

    result = materialize(_assets(), resources=answered, instance=dagster_instance,
                         selection=AssetSelection.checks(AssetCheckKey(AssetKey("retention_purge"), CHECK)),
                         run_config={"ops": {f"retention_purge_{CHECK}": {"config": {"as_of": AFTER_RETENTION}}}},
                         raise_on_error=False)
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == CHECK)

    assert not check.passed
    assert check.metadata["handoff_files_past_retention"].value == 1
    assert check.metadata["cohort_rows_with_personal_data"].value == 0


def test_purge_deletes_a_handoff_file_that_reappears_after_its_month_was_purged(
    answered, tmp_path, dagster_instance
):
    outbox = tmp_path / "outbox"
    copy = (outbox / "handoff_2025-04.csv").read_bytes()
    purge(dagster_instance, answered, AFTER_RETENTION)
    (outbox / "handoff_2025-04.csv").write_bytes(copy)

    done, check = purge(dagster_instance, answered, AFTER_RETENTION)

    assert not (outbox / "handoff_2025-04.csv").exists()
    assert check.passed


# ---------------------------------------------------------------------- privacy end to end
# Shapes of the values looked for; each match is then looked up in the sets of real values, so
# one pass over the text finds them all, in any layout.
_DIGITS_AND_SEPARATORS = re.compile(r"\+?[0-9(][0-9 ().\-]{7,}[0-9]")
_WORD = re.compile(r"[A-Z][a-z]+(?:-[A-Z][a-z]+)*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UK_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_DATE_REPR = re.compile(r"datetime\.date\(([0-9]+), ([0-9]+), ([0-9]+)\)")
_REFERENCE = re.compile(r"[A-Z]+/[A-Z]/[0-9]{4}-[0-9]{2}/[0-9]+")
_PERSON_ID = re.compile(r"[A-Z]+-P[0-9]+")


def phones_in(text: str) -> set[str]:
    """Every 10-digit national number (without its 0) that any run of digits and separators holds:
    '07700 900123', '+44 (0)7700-900123', '447700900123' all give '7700900123'."""
    found = set()
    for run in _DIGITS_AND_SEPARATORS.findall(text):
        digits = re.sub(r"[^0-9]", "", run)
        found.update(digits[i:i + 10] for i in range(len(digits) - 9))
    return found


class PersonalValues:
    """Every victim's name, phone, date of birth, crime reference and person id in raw.reports."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        from vsat_assets.privacy import normalise_uk_phone

        rows = conn.execute(
            """SELECT victim_forename, victim_surname, is_organisation, victim_phone, victim_date_of_birth,
                      crime_reference, victim_person_id FROM raw.reports""").fetchall()
        assert rows
        self.names = {r[c] for r in rows for c in (0, 1) if r[c] and not r[2]}
        self.phones = {normalise_uk_phone(r[3]) for r in rows if r[3]} - {None}
        self.national = {p[1:] for p in self.phones}
        self.births = {r[4] for r in rows if r[4] is not None}
        self.references = {r[5] for r in rows}
        self.person_ids = {r[6] for r in rows}
        assert self.names and self.phones and self.births

    def found_in(self, text: str) -> dict[str, list[str]]:
        dates = {date.fromisoformat(d) for d in _ISO_DATE.findall(text) if _valid_date(d)}
        dates |= {_date(y, m, d) for y, m, d in _DATE_REPR.findall(text)}
        dates |= {_date(y, m, d) for d, m, y in _UK_DATE.findall(text)}
        hits = {
            "name": set(_WORD.findall(text)) & self.names,
            "phone": phones_in(text) & self.national,
            "date of birth": dates & self.births,
            "crime reference": set(_REFERENCE.findall(text)) & self.references,
            "person id": set(_PERSON_ID.findall(text)) & self.person_ids,
        }
        return {kind: sorted(map(str, found))[:5] for kind, found in hits.items() if found}

    def found_in_table(self, rows: list[tuple]) -> dict[str, list[str]]:
        cells = [v for row in rows for v in row if v is not None]
        hits = self.found_in("\n".join(map(repr, cells)) + "\n" + "\n".join(map(str, cells)))
        as_cells = sorted({v for v in cells if isinstance(v, str) and v.strip() in self.names})
        if as_cells:
            hits["name cell"] = as_cells[:5]
        return hits


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _tables(conn: duckdb.DuckDBPyConnection, catalog: str, schemas: tuple[str, ...] | None) -> dict[str, list]:
    names = conn.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [catalog]).fetchall()
    return {
        f"{schema}.{table}": conn.execute(f'SELECT * FROM "{catalog}"."{schema}"."{table}"').fetchall()
        for schema, table in names
        if schemas is None or schema in schemas
    }


@pytest.mark.slow
def test_no_personal_data_reaches_marts_analytics_file_event_log_or_data_files(
    make_resources, tmp_path, dagster_instance, run_log_text, monkeypatch
):
    from vsat_assets import demo, settings
    from vsat_assets.defs.handoff.jobs import monthly_survey_job, retention_job
    from vsat_assets.defs.responses.jobs import survey_responses_job

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("VSAT_DATA_DIR", str(data))
    for name in ("VSAT_DROP_DIR", "VSAT_REPORT_SOURCE", "VSAT_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VSAT_PROFILE", "demo")
    resources = make_resources("generator", warehouse="data/vsat.duckdb")
    # The demo's layout: outbox and inbox inside the data folder.
    resources["handoff"] = HandoffSettings()
    resources["contractor_inbox"] = ContractorInbox()
    assert settings.warehouse_path() == Path(resources["warehouse"].database).resolve()

    # The demo flow, for two months: the monthly lineage, the stand-in, the returns, the purge.
    results = [run_assets(dagster_instance, resources,
                          monthly_survey_job.selection | AssetSelection.assets("opt_out_register"), tags=RANGE_TAGS)]
    assert results[-1].success
    assert handoff_files(data / "outbox") == ["handoff_2025-04.csv", "handoff_2025-05.csv"]
    demo.answer_handoffs("2025-04-01", "2025-05-01")
    results.append(run_assets(dagster_instance, resources, survey_responses_job.selection, tags=RANGE_TAGS))
    assert results[-1].success
    results.append(run_assets(dagster_instance, resources, retention_job.selection, as_of=AFTER_RETENTION))
    assert results[-1].success

    with resources["warehouse"].get_connection() as conn:
        values = PersonalValues(conn)
        marts = _tables(conn, "vsat", ("marts",))
        assert conn.execute(
            f"SELECT count(*) FROM intermediate.sampled_cohort WHERE {HOLDS_PERSONAL}").fetchone()[0] == 0
    assert marts, "the monthly job builds the marts"
    leaks = {}
    for table, rows in marts.items():
        if found := values.found_in_table(rows):
            leaks[f"warehouse {table}"] = found

    analytics = data / "vsat_analytics.duckdb"
    assert analytics.exists(), "the monthly job publishes the analytics file"
    with duckdb.connect(str(analytics), read_only=True) as conn:
        tables = _tables(conn, "vsat_analytics", None)
    assert tables
    for table, rows in tables.items():
        if found := values.found_in_table(rows):
            leaks[f"analytics file {table}"] = found

    for result in results:
        if found := values.found_in(run_log_text(result)):
            leaks[f"event log of run {result.run_id}"] = found

    assert handoff_files(data / "outbox") == [], "the purge deletes every hand-off of the two months"
    skip = {"vsat.duckdb", "vsat.duckdb.wal", "vsat.duckdb.lock", analytics.name}
    files = [p for p in data.rglob("*") if p.is_file() and p.name not in skip]
    assert any(p.parent.name == "inbox" for p in files)
    for path in files:
        if found := values.found_in(path.read_bytes().decode("utf-8", errors="replace")):
            leaks[f"file {path.relative_to(data)}"] = found

    assert leaks == {}
