"""Survey responses: the contractor's returns checked, linked and stored, or rejected.

The generator's April-May 2025 hand-offs (one range run at SMALL_SCALE) are built once per
session and copied into each test's tmp_path; returns files come from the contractor stand-in
(`simulate_returns`) or are written by hand. The opt-out test uses small export files
(plainly fake people) so that the same person can report again a year later.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from vsat_assets.contractor_sim.simulate import simulate_returns
from vsat_assets.partitions import months_in, next_month
from vsat_assets.privacy import DEV_PSEUDONYM_KEY, normalise_uk_phone
from vsat_assets.resources import SurveySettings
from vsat_assets.defs.sampling.opt_outs import person_key, phone_key
from conftest import TO_HANDOFF

APRIL = "2025-04-01"
MAY = "2025-05-01"
RETURNS_COLUMNS = [
    "survey_id", "outcome", "interview_date",
    "ease_of_contact", "actions_taken", "kept_informed", "treatment", "whole_experience",
]
QUESTIONS = RETURNS_COLUMNS[3:]
RESPONSES = ("survey_responses",)
STORED = {
    "responses": "SELECT * FROM staging.survey_responses",
    "quarantine": "SELECT * FROM ops.returns_quarantine",
    "register": "SELECT person_key, phone_key, opted_out_on, channel, source FROM ops.opt_out_register",
}


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def stored_april(generator_handoffs, tmp_path, materialize_vsat, warehouse_rows) -> dict:
    """`generator_handoffs` with the stand-in's April returns ingested: what a fault must not disturb."""
    returns = simulate_returns(tmp_path / "outbox" / "handoff_2025-04.csv", tmp_path / "inbox")
    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES)
    assert result.success
    stored = {name: warehouse_rows(generator_handoffs["warehouse"], sql) for name, sql in STORED.items()}
    assert stored["responses"]
    return {"resources": generator_handoffs, "returns": returns, "stored": stored}


def cohort(warehouse_rows, resources: dict, month: str) -> list[dict]:
    rows = warehouse_rows(
        resources["warehouse"],
        """SELECT survey_id, contact_from, contact_until, survey_strand, policing_area, design_weight,
                  person_key, phone_key
           FROM intermediate.sampled_cohort WHERE sampling_month = ? AND contact_until > handoff_date""",
        [date.fromisoformat(month)],
    )
    names = ("survey_id", "contact_from", "contact_until", "survey_strand", "policing_area", "design_weight",
             "person_key", "phone_key")
    return [dict(zip(names, r)) for r in rows]


def complete(row: dict, answer: str = "2") -> dict[str, str]:
    """A valid COMPLETE return for a cohort row, interviewed on the first day of its window."""
    return {"survey_id": row["survey_id"], "outcome": "COMPLETE",
            "interview_date": row["contact_from"].isoformat(), **{q: answer for q in QUESTIONS}}


def write_returns(inbox: Path, month: str, rows: list[dict[str, str]], columns=RETURNS_COLUMNS) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"returns_{month[:7]}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def check_result(result, name: str):
    found = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert len(found) == 1, [e.check_name for e in result.get_asset_check_evaluations()]
    return found[0]


# ---------------------------------------------------------------------- accepted rows
def test_accepted_returns_are_linked_to_strand_area_and_weight(
    generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    returns = simulate_returns(tmp_path / "outbox" / "handoff_2025-04.csv", tmp_path / "inbox")
    returned = pl.read_csv(returns, infer_schema=False)

    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES)

    assert result.success
    assert check_result(result, "no_quarantined_rows").passed
    assert check_result(result, "every_response_linked").passed
    by_id = {row["survey_id"]: row for row in cohort(warehouse_rows, generator_handoffs, APRIL)}
    stored = warehouse_rows(
        generator_handoffs["warehouse"],
        """SELECT survey_id, sampling_month, outcome, interview_date, survey_strand, policing_area, design_weight,
                  ease_of_contact, whole_experience, returns_file
           FROM staging.survey_responses""",
    )
    assert sorted(r[0] for r in stored) == sorted(returned["survey_id"].to_list())
    answers = {r["survey_id"]: r for r in returned.iter_rows(named=True)}
    for sid, month, outcome, interviewed, strand, area, weight, ease, whole, file in stored:
        expected = by_id[sid]
        assert (month, strand, area, weight) == (
            date(2025, 4, 1), expected["survey_strand"], expected["policing_area"], expected["design_weight"])
        assert weight >= 1
        assert outcome == answers[sid]["outcome"]
        assert (ease is None) == (outcome != "COMPLETE")
        if outcome == "COMPLETE":
            assert (str(ease), str(whole)) == (answers[sid]["ease_of_contact"], answers[sid]["whole_experience"])
        if interviewed is not None:
            assert expected["contact_from"] <= interviewed <= expected["contact_until"]
        assert file == "returns_2025-04.csv"
    assert warehouse_rows(generator_handoffs["warehouse"], "SELECT * FROM ops.returns_quarantine") == []


# ------------------------------------------------------------------------ file faults
def _not_utf8(path: Path, **_) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2][:5] + b"\xe9" + lines[2][5:]
    path.write_bytes(b"\n".join(lines))


def _drop_column(path: Path, **_) -> None:
    pl.read_csv(path, infer_schema=False).drop("treatment").write_csv(path)


def _extra_column(path: Path, **_) -> None:
    pl.read_csv(path, infer_schema=False).with_columns(pl.lit("called twice").alias("notes")).write_csv(path)


def _empty(path: Path, **_) -> None:
    path.write_bytes(b"")


def _header_only(path: Path, **_) -> None:
    path.write_text(",".join(RETURNS_COLUMNS) + "\n", encoding="utf-8")


def _missing(path: Path, **_) -> None:
    path.unlink()


def _wrong_month(path: Path, outbox: Path, **_) -> None:
    """May's returns, filed as April's."""
    may = simulate_returns(outbox / "handoff_2025-05.csv", path.parent / "elsewhere")
    shutil.copyfile(may, path)


FILE_FAULTS = {
    "not-utf8": (_not_utf8, "not valid UTF-8"),
    "missing-column": (_drop_column, "missing column(s): treatment"),
    "extra-column": (_extra_column, "unexpected column(s): notes"),
    "empty-file": (_empty, "file is empty"),
    "header-only": (_header_only, "header but no rows"),
    "missing-file": (_missing, "no returns file for 2025-04"),
    "wrong-month": (_wrong_month, "belong to the hand-off of 2025-05, not 2025-04"),
}


@pytest.mark.parametrize("fault", FILE_FAULTS, ids=list(FILE_FAULTS))
def test_a_file_fault_fails_the_run_naming_the_file_and_keeps_what_was_stored(
    stored_april, tmp_path, materialize_vsat, failure_messages, warehouse_rows, fault
):
    damage, problem = FILE_FAULTS[fault]
    damage(stored_april["returns"], outbox=tmp_path / "outbox")
    resources = stored_april["resources"]

    result = materialize_vsat(resources, partition=APRIL, selection=RESPONSES)

    assert not result.success
    messages = "\n".join(failure_messages(result))
    assert "ReturnsFileError" in messages
    assert "returns_2025-04.csv" in messages and problem in messages, messages
    for name, sql in STORED.items():
        after = warehouse_rows(resources["warehouse"], sql)
        if name == "register" and fault == "wrong-month":
            # May's file holds real opt-outs of May's victims: honoured even though the file is refused.
            assert set(stored_april["stored"][name]) < set(after)
            continue
        assert after == stored_april["stored"][name], name


# ------------------------------------------------------------------------- row faults
def _row_faults(rows: list[dict]) -> tuple[list[dict[str, str]], dict[int, tuple[str, str]]]:
    """A returns file with one faulty row per case; returns (rows, {1-based row: (reason, column)})."""
    assert len(rows) >= 16, "the April cohort is too small for this test"
    out, expected = [], {}

    def add(record: dict[str, str], reason: str | None = None, column: str | None = None) -> None:
        out.append(record)
        if reason:
            expected[len(out)] = (reason, column)

    add(complete(rows[0]))
    add(complete(rows[1]))
    add({**complete(rows[2]), "survey_id": "S" + "0" * 32}, "UNKNOWN_SURVEY_ID", "survey_id")
    add({**complete(rows[0]), "ease_of_contact": "5"}, "DUPLICATE_SURVEY_ID", "survey_id")
    add({**complete(rows[3]), "outcome": "MAYBE"}, "UNKNOWN_OUTCOME", "outcome")
    add({**complete(rows[4]), "outcome": ""}, "UNKNOWN_OUTCOME", "outcome")
    add({**complete(rows[5]), "ease_of_contact": "0"}, "ANSWER_OUT_OF_RANGE", "ease_of_contact")
    add({**complete(rows[6]), "treatment": "10"}, "ANSWER_OUT_OF_RANGE", "treatment")
    add({**complete(rows[7]), "whole_experience": "x"}, "ANSWER_OUT_OF_RANGE", "whole_experience")
    add({**complete(rows[8]), "outcome": "REFUSED"}, "ANSWERS_ON_NON_COMPLETE", "outcome")
    add({**complete(rows[9]), "outcome": "NO_CONTACT", "interview_date": "", "kept_informed": "3",
         "ease_of_contact": "", "actions_taken": "", "treatment": "", "whole_experience": ""},
        "ANSWERS_ON_NON_COMPLETE", "outcome")
    add({**complete(rows[10]), "interview_date": (rows[10]["contact_from"] - timedelta(days=1)).isoformat()},
        "INTERVIEW_OUTSIDE_WINDOW", "interview_date")
    add({**complete(rows[11]), "interview_date": (rows[11]["contact_until"] + timedelta(days=1)).isoformat()},
        "INTERVIEW_OUTSIDE_WINDOW", "interview_date")
    add({**complete(rows[12]), "interview_date": "2025-06-31"}, "BAD_INTERVIEW_DATE", "interview_date")
    add({**complete(rows[13]), "interview_date": "yesterday"}, "BAD_INTERVIEW_DATE", "interview_date")
    # Valid edge cases: last day of the window, 'don't know' / 'not applicable' codes, no-answer outcomes.
    add({**complete(rows[14], "8"), "interview_date": rows[14]["contact_until"].isoformat(), "treatment": "9"})
    add({"survey_id": rows[15]["survey_id"], "outcome": "WRONG_NUMBER", "interview_date": ""})
    return out, expected


def test_each_row_fault_is_quarantined_with_its_reason_and_column(
    generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    rows = cohort(warehouse_rows, generator_handoffs, APRIL)
    returned, expected = _row_faults(rows)
    write_returns(tmp_path / "inbox", APRIL, returned)

    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES)

    assert result.success  # row faults do not fail the run
    quarantined = warehouse_rows(
        generator_handoffs["warehouse"],
        "SELECT row_number, survey_id, reason, column_name, file, sampling_month FROM ops.returns_quarantine",
    )
    found = {row: (reason, column) for row, _, reason, column, _, _ in quarantined}
    assert found == expected
    for row, survey_id, _, _, file, month in quarantined:
        assert survey_id == returned[row - 1]["survey_id"]
        assert (file, month) == ("returns_2025-04.csv", date(2025, 4, 1))
    accepted = warehouse_rows(generator_handoffs["warehouse"], "SELECT survey_id FROM staging.survey_responses")
    valid_rows = [returned[i - 1]["survey_id"] for i in range(1, len(returned) + 1) if i not in expected]
    assert sorted(sid for (sid,) in accepted) == sorted(valid_rows)

    check = check_result(result, "no_quarantined_rows")
    assert not check.passed
    assert check.severity.value == "WARN"
    by_reason = check.metadata["quarantined_by_reason"].value
    assert sum(by_reason.values()) == len(expected)
    assert check_result(result, "every_response_linked").passed


def test_rerunning_a_month_replaces_its_responses_and_quarantine(
    generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    rows = cohort(warehouse_rows, generator_handoffs, APRIL)
    returned, expected = _row_faults(rows)
    write_returns(tmp_path / "inbox", APRIL, returned)
    counts_sql = """SELECT (SELECT count(*) FROM staging.survey_responses),
                           (SELECT count(DISTINCT survey_id) FROM staging.survey_responses),
                           (SELECT count(*) FROM ops.returns_quarantine)"""

    assert materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES).success
    first = warehouse_rows(generator_handoffs["warehouse"], counts_sql)
    assert materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES).success

    assert warehouse_rows(generator_handoffs["warehouse"], counts_sql) == first
    assert first == [(len(returned) - len(expected), len(returned) - len(expected), len(expected))]

    # A corrected file replaces the month: every row accepted, nothing left in quarantine.
    write_returns(tmp_path / "inbox", APRIL, [complete(r) for r in rows])
    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES)
    assert result.success and check_result(result, "no_quarantined_rows").passed
    assert warehouse_rows(generator_handoffs["warehouse"], counts_sql) == [(len(rows), len(rows), 0)]


def test_returns_for_a_sent_handoff_still_link_after_a_resample_of_the_sent_month(
    generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    resampled = {**generator_handoffs, "survey": SurveySettings(sample_seed=1)}
    kept = materialize_vsat(resampled, partition=APRIL,
                            selection=("sampling_frame", "sampled_cohort", "contractor_handoff"))
    assert kept.success  # the month is settled: its sample and file stay as sent
    simulate_returns(tmp_path / "outbox" / "handoff_2025-04.csv", tmp_path / "inbox")

    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES)

    assert result.success
    assert warehouse_rows(generator_handoffs["warehouse"], "SELECT reason FROM ops.returns_quarantine") == []


# ----------------------------------------------------------------------------- opt-outs
@pytest.mark.slow
def test_opt_out_joins_the_register_and_the_person_is_not_sampled_when_reporting_again(
    export_resources, export_writer, tmp_path, materialize_vsat, warehouse_rows, monkeypatch
):
    monkeypatch.delenv("VSAT_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("VSAT_PROFILE", "demo")
    resources = {**export_resources, "survey": SurveySettings(sample_rate=1.0, domestic_abuse_sample_rate=1.0)}
    warehouse = resources["warehouse"]
    first, later = date(2024, 4, 1), date(2025, 5, 1)   # more than recontact_months apart
    april = export_writer.frame(first, rows=6)
    export_writer.write(first, april)
    assert materialize_vsat(resources, partition=first.isoformat(), selection=TO_HANDOFF).success

    # The contractor reports that the victim of row 1 asked never to be called again.
    quitter_id, quitter_phone = april["victim_person_id"][0], april["victim_phone"][0]
    key = person_key(DEV_PSEUDONYM_KEY, "DUR", quitter_id)
    rows = {r["person_key"]: r for r in cohort(warehouse_rows, resources, first.isoformat())}
    assert key in rows
    quitter = rows[key]
    returned = [
        {"survey_id": quitter["survey_id"], "outcome": "OPT_OUT", "interview_date": quitter["contact_from"].isoformat()},
        *[complete(r) for k, r in rows.items() if k != key],
    ]
    write_returns(tmp_path / "inbox", first.isoformat(), returned)
    result = materialize_vsat(resources, partition=first.isoformat(), selection=RESPONSES)
    assert result.success
    [returns] = [m for m in result.asset_materializations_for_node("survey_responses")
                 if m.asset_key.to_user_string() == "survey_responses"]
    assert returns.metadata["new_opt_outs"].value == 1
    register = warehouse_rows(warehouse, STORED["register"])
    assert register == [(key, phone_key(DEV_PSEUDONYM_KEY, normalise_uk_phone(quitter_phone)),
                         quitter["contact_from"], "CONTRACTOR_RETURNS", "returns_2024-04.csv")]

    # A year later the same person reports again (with a new phone number), and someone else
    # reports with the phone number the quitter gave: neither is sampled.
    may = export_writer.frame(later, rows=6)
    may = may.with_columns(
        pl.Series("victim_person_id", [quitter_id, "TST-NEWPERSON1", *may["victim_person_id"][2:]]),
        pl.Series("victim_phone", ["07700 900999", quitter_phone, *may["victim_phone"][2:]]),
    )
    export_writer.write(later, may)
    # Each month's sample depends on the month before: the months in between are built too, in order.
    for month in months_in(next_month(first), later):
        export_writer.write(month, rows=6)
    assert materialize_vsat(resources, partition_range=(next_month(first).isoformat(), later.isoformat()),
                            selection=TO_HANDOFF).success

    reasons = dict(warehouse_rows(
        warehouse,
        "SELECT victim_person_id, exclusion_reason FROM intermediate.victim_eligibility WHERE report_month = ?",
        [later]))
    assert reasons[quitter_id] == "OPTED_OUT"          # matched by person
    assert reasons["TST-NEWPERSON1"] == "OPTED_OUT"    # matched by phone
    selection = dict(warehouse_rows(
        warehouse,
        "SELECT victim_person_id, selection FROM intermediate.sampling_frame WHERE report_month = ?", [later]))
    assert quitter_id not in selection or selection[quitter_id] != "SAMPLED"
    assert sorted(selection.values()) == ["SAMPLED"] * 4
    sampled_keys = {r["person_key"] for r in cohort(warehouse_rows, resources, later.isoformat())}
    assert key not in sampled_keys and len(sampled_keys) == 4
    handoff = (tmp_path / "outbox" / "handoff_2025-05.csv").read_text(encoding="utf-8")
    assert "07700900999" not in handoff and normalise_uk_phone(quitter_phone) not in handoff
    # Re-ingesting the same returns does not add the opt-out twice.
    assert materialize_vsat(resources, partition=first.isoformat(), selection=RESPONSES).success
    assert len(warehouse_rows(warehouse, STORED["register"])) == 1


def test_every_opt_out_reaches_the_register_whatever_else_is_wrong_with_its_row(
    generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    """Measured before: an OPT_OUT with a blank or out-of-window date, or a duplicate, was
    quarantined and never reached the register."""
    rows = cohort(warehouse_rows, generator_handoffs, APRIL)
    assert len(rows) >= 7

    def opt_out(row: dict, **changes) -> dict:
        return {"survey_id": row["survey_id"], "outcome": "OPT_OUT",
                "interview_date": row["contact_from"].isoformat(), **changes}

    returned = [
        complete(rows[0]),
        opt_out(rows[1], interview_date=""),                                                  # blank date
        opt_out(rows[2], interview_date=(rows[2]["contact_until"] + timedelta(days=30)).isoformat()),
        opt_out(rows[3], interview_date="31/02/2025"),                                        # unreadable date
        complete(rows[4]), opt_out(rows[4]),                                                  # duplicate
        opt_out(rows[5], treatment="3"),                                                      # stray answer
        opt_out(rows[6]),                                                                     # clean
    ]
    write_returns(tmp_path / "inbox", APRIL, returned)

    result = materialize_vsat(generator_handoffs, partition=APRIL, selection=RESPONSES)

    assert result.success
    register = warehouse_rows(generator_handoffs["warehouse"],
                              "SELECT person_key, phone_key, opted_out_on, channel FROM ops.opt_out_register")
    expected = sorted(((r["person_key"], r["phone_key"], r["contact_from"], "CONTRACTOR_RETURNS")
                       for r in rows[1:7]), key=repr)
    assert register == expected
    quarantined = dict(warehouse_rows(generator_handoffs["warehouse"],
                                      "SELECT row_number, reason FROM ops.returns_quarantine"))
    assert quarantined == {2: "INTERVIEW_OUTSIDE_WINDOW", 3: "INTERVIEW_OUTSIDE_WINDOW", 4: "BAD_INTERVIEW_DATE",
                           6: "DUPLICATE_SURVEY_ID", 7: "ANSWERS_ON_NON_COMPLETE"}
    accepted = warehouse_rows(generator_handoffs["warehouse"], "SELECT survey_id, outcome FROM staging.survey_responses")
    assert accepted == sorted([(rows[0]["survey_id"], "COMPLETE"), (rows[4]["survey_id"], "COMPLETE"),
                               (rows[6]["survey_id"], "OPT_OUT")], key=repr)
