"""Changing the pseudonym key: refused unless rotated with a key ring, and then nobody who opted
out or was recently surveyed is forgotten (measured before: 262 opted-out and 131 recently
surveyed victims were no longer excluded after a silent key change)."""

from __future__ import annotations

import csv
from datetime import date

import polars as pl

from vsat_assets.resources import SurveySettings
from conftest import TO_HANDOFF

KEY_A = "first-secret-key-of-the-force-0123456789abcdef"
KEY_B = "second-secret-key-of-the-force-fedcba9876543210"
APRIL, MAY = date(2024, 4, 1), date(2024, 5, 1)


def _returns(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["survey_id", "outcome", "interview_date", "ease_of_contact", "actions_taken",
                         "kept_informed", "treatment", "whole_experience"])
        writer.writerows(rows)


def test_a_changed_key_is_refused_and_a_rotated_one_keeps_every_exclusion(
    export_resources, export_writer, tmp_path, materialize_vsat, warehouse_rows, failure_messages, monkeypatch
):
    monkeypatch.setenv("VSAT_PROFILE", "production")
    monkeypatch.setenv("VSAT_PSEUDONYM_KEY", KEY_A)
    resources = {**export_resources, "survey": SurveySettings(sample_rate=1.0, domestic_abuse_sample_rate=1.0)}
    warehouse = resources["warehouse"]
    april = export_writer.frame(APRIL, rows=6)
    export_writer.write(APRIL, april)
    assert materialize_vsat(resources, partition=APRIL.isoformat(), selection=TO_HANDOFF).success
    cohort = dict(warehouse_rows(warehouse, "SELECT victim_person_id, survey_id FROM intermediate.sampling_frame "
                                            "WHERE selection = 'SAMPLED'"))
    quitter, surveyed = april["victim_person_id"][0], april["victim_person_id"][1]
    window = warehouse_rows(warehouse, "SELECT min(contact_from) FROM intermediate.sampled_cohort")[0][0]
    _returns(tmp_path / "inbox" / "returns_2024-04.csv",
             [[cohort[quitter], "OPT_OUT", window.isoformat(), "", "", "", "", ""]])
    assert materialize_vsat(resources, partition=APRIL.isoformat(), selection=("survey_responses",)).success

    # May: the quitter (with a new phone), the recently surveyed victim and a newcomer report.
    may = export_writer.frame(MAY, rows=3).with_columns(
        pl.Series("victim_person_id", [quitter, surveyed, "TST-NEWCOMER"]),
        pl.Series("victim_phone", ["07700 900998", april["victim_phone"][1], "07700 900997"]),
    )
    export_writer.write(MAY, may)

    monkeypatch.setenv("VSAT_PSEUDONYM_KEY", KEY_B)  # a new key, without the ring
    refused = materialize_vsat(resources, partition=MAY.isoformat(), selection=TO_HANDOFF)
    assert not refused.success
    message = "\n".join(failure_messages(refused))
    assert "KeyMismatchError" in message and "VSAT_PSEUDONYM_OLD_KEYS" in message
    assert KEY_A not in message and KEY_B not in message
    assert warehouse_rows(warehouse, "SELECT count(*) FROM raw.reports WHERE report_date >= ?", [MAY]) == [(0,)]

    monkeypatch.setenv("VSAT_PSEUDONYM_OLD_KEYS", KEY_A)  # the documented rotation
    assert materialize_vsat(resources, partition=MAY.isoformat(), selection=TO_HANDOFF).success
    eligibility = dict(warehouse_rows(
        warehouse, "SELECT victim_person_id, exclusion_reason FROM intermediate.victim_eligibility "
                   "WHERE report_month = ?", [MAY]))
    frame = dict(warehouse_rows(
        warehouse, "SELECT victim_person_id, selection FROM intermediate.sampling_frame WHERE report_month = ?",
        [MAY]))
    assert eligibility[quitter] == "OPTED_OUT"
    assert frame == {surveyed: "RECENTLY_SURVEYED", "TST-NEWCOMER": "SAMPLED"}
    handed_off = (tmp_path / "outbox" / "handoff_2024-05.csv").read_text()
    assert "07700900998" not in handed_off and "07700900997" in handed_off


def test_no_step_of_any_run_opens_the_warehouse_without_a_key(
    resources, tmp_path, materialize_vsat, failure_messages, monkeypatch
):
    monkeypatch.setenv("VSAT_PROFILE", "production")
    monkeypatch.delenv("VSAT_PSEUDONYM_KEY", raising=False)

    result = materialize_vsat(resources, selection=("offence_catalogue",))

    assert not result.success
    assert "PseudonymKeyError: VSAT_PSEUDONYM_KEY is not set" in "\n".join(failure_messages(result))
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_every_key_error_points_to_the_security_page_not_a_missing_readme_heading(monkeypatch):
    import duckdb
    import pytest

    from vsat_assets.keys import KeyRing, check_against_warehouse, key_ring_from_env
    from vsat_assets.privacy import PseudonymKeyError

    messages = []
    monkeypatch.setenv("VSAT_PROFILE", "production")
    for value in ("", "too-short"):
        monkeypatch.setenv("VSAT_PSEUDONYM_KEY", value)
        with pytest.raises(PseudonymKeyError) as raised:
            key_ring_from_env()
        messages.append(str(raised.value))
    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA ops")
        check_against_warehouse(conn, KeyRing(KEY_A.encode()))
        with pytest.raises(PseudonymKeyError) as raised:
            check_against_warehouse(conn, KeyRing(KEY_B.encode()))   # a changed key, not rotated
        messages.append(str(raised.value))
    for message in messages:
        assert "docs/security.md" in message and "README" not in message, message
