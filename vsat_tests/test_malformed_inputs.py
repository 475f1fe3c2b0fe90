"""A corpus of malformed inputs, as files on disk, through the assets as a user's data would go.

Each case says what should happen to the file: rejected whole (naming file, row, column), one
row quarantined (with its reason and column), or accepted; and checks that what was stored
before is unchanged where it should be:

- returns: May's returns are stored; each case is April's returns file, built from April's cohort
  (every row a clean COMPLETE interview) and then damaged;
- exports: April's export is stored; each case replaces the file in the drop folder.

Measured before these cases: a truncated last line was stored as a COMPLETE interview with four
blank answers; a COMPLETE row with a blank answer was accepted; an unknown area or offence code
was written to raw.reports before a check failed; NUL bytes in names were stored; a file without
a header row got a message quoting victims' names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import pytest

from vsat_assets.contractor_sim.simulate import simulate_returns
from conftest import ExportWriter, cached_state

pytestmark = pytest.mark.slow  # about a minute: 60-odd runs of one asset each
APRIL, MAY = "2025-04-01", "2025-05-01"
RETURNS_COLUMNS = ["survey_id", "outcome", "interview_date", "ease_of_contact", "actions_taken",
                   "kept_informed", "treatment", "whole_experience"]
QUESTIONS = RETURNS_COLUMNS[3:]
RETURNS_FILE = "returns_2025-04.csv"
EXPORT_FILE = "reports_2025-04.csv"


@dataclass(frozen=True)
class Case:
    damage: Callable          # returns: (rows as dicts, cohort) -> bytes;  exports: frame -> bytes
    outcome: str              # "rejected", "quarantined" or "accepted"
    problem: str = ""         # rejected: a fragment of the message; quarantined: the reason
    row: int | None = None    # 1-based data row named by the message / quarantined
    column: str | None = None


# ----------------------------------------------------------------------------- returns
def as_csv(rows: list[dict], columns=RETURNS_COLUMNS, line_end: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def lines_of(rows) -> list[bytes]:
    return as_csv(rows).split(b"\n")


def with_row(change: dict, row: int = 1) -> Callable:
    """The clean file with data row `row` changed."""
    def damage(rows, cohort):
        rows = [dict(r) for r in rows]
        rows[row - 1].update(change(cohort[row - 1]) if callable(change) else change)
        return as_csv(rows)
    return damage


def with_lines(edit: Callable[[list[bytes]], list[bytes]]) -> Callable:
    return lambda rows, cohort: b"\n".join(edit(lines_of(rows)))


def _truncated_last_line(lines):
    last = len(lines) - 2  # the file ends in a newline, so the last element is empty
    lines[last] = lines[last].rsplit(b",", 4)[0]
    return lines


def _insert(lines, index, line):
    return lines[:index] + [line] + lines[index:]


def _in_field(lines, line, text: bytes):
    lines[line] = lines[line].replace(b",COMPLETE,", b",COMPLETE" + text + b",", 1)
    return lines


def _quoted_line_break(lines, line):
    lines[line] = lines[line].replace(b",COMPLETE,", b',"COMPL\r\nETE",', 1)
    return lines


def _wrong_month(rows, cohort):
    raise NotImplementedError  # replaced by the test with May's stand-in returns


RETURNS_CASES = {
    # the file as a whole
    "empty-file": Case(lambda rows, c: b"", "rejected", "file is empty"),
    "header-only": Case(lambda rows, c: as_csv([]), "rejected", "header but no rows"),
    "no-header-row": Case(with_lines(lambda ls: ls[1:]), "rejected", "is the header row missing"),
    "semicolons": Case(lambda rows, c: as_csv(rows).replace(b",", b";"), "rejected", "header row missing"),
    "missing-column": Case(lambda rows, c: as_csv(rows, RETURNS_COLUMNS[:-1]), "rejected",
                           "missing column(s): whole_experience"),
    "extra-column": Case(lambda rows, c: as_csv([{**r, "notes": "x"} for r in rows], [*RETURNS_COLUMNS, "notes"]),
                         "rejected", "unexpected column(s): notes"),
    "repeated-column": Case(lambda rows, c: as_csv(rows).replace(b"whole_experience\n", b"treatment\n", 1),
                            "rejected", "appear more than once: treatment"),
    "truncated-last-line": Case(with_lines(_truncated_last_line), "rejected", "has 4 fields, the header 8",
                                row=-1),
    "long-row": Case(with_lines(lambda ls: ls[:2] + [ls[2] + b",2"] + ls[3:]), "rejected",
                     "has 9 fields, the header 8", row=2),
    "blank-line": Case(with_lines(lambda ls: _insert(ls, 3, b"")), "rejected", "the row is blank", row=3),
    "nul-byte": Case(with_lines(lambda ls: _in_field(ls, 1, b"\x00")), "rejected", "control character",
                     row=1, column="outcome"),
    "line-break-in-cell": Case(with_lines(lambda ls: _quoted_line_break(ls, 2)), "rejected",
                               "control character", row=2, column="outcome"),
    "not-utf8": Case(with_lines(lambda ls: _in_field(ls, 2, b"\xe9")), "rejected", "not valid UTF-8", row=2),
    "wrong-month": Case(_wrong_month, "rejected", "belong to the hand-off of 2025-05"),
    # one row
    "blank-answer": Case(with_row({"kept_informed": ""}), "quarantined", "MISSING_ANSWER", 1, "kept_informed"),
    "all-answers-blank": Case(with_row({q: "" for q in QUESTIONS}), "quarantined", "MISSING_ANSWER", 1,
                              "ease_of_contact"),
    "answer-zero": Case(with_row({"treatment": "0"}), "quarantined", "ANSWER_OUT_OF_RANGE", 1, "treatment"),
    "answer-ten": Case(with_row({"actions_taken": "10"}), "quarantined", "ANSWER_OUT_OF_RANGE", 1,
                       "actions_taken"),
    "answer-word": Case(with_row({"whole_experience": "good"}), "quarantined", "ANSWER_OUT_OF_RANGE", 1,
                        "whole_experience"),
    "unknown-outcome": Case(with_row({"outcome": "DONE"}), "quarantined", "UNKNOWN_OUTCOME", 1, "outcome"),
    "unknown-survey-id": Case(with_row({"survey_id": "S" + "0" * 32}), "quarantined", "UNKNOWN_SURVEY_ID", 1,
                              "survey_id"),
    "duplicate-row": Case(lambda rows, c: as_csv([*rows, rows[0]]), "quarantined", "DUPLICATE_SURVEY_ID", -1,
                          "survey_id"),
    "answers-on-refusal": Case(with_row({"outcome": "REFUSED"}), "quarantined", "ANSWERS_ON_NON_COMPLETE", 1,
                               "outcome"),
    "interview-before-window": Case(
        with_row(lambda r: {"interview_date": (r["contact_from"] - timedelta(days=1)).isoformat()}),
        "quarantined", "INTERVIEW_OUTSIDE_WINDOW", 1, "interview_date"),
    "impossible-date": Case(with_row({"interview_date": "2025-06-31"}), "quarantined", "BAD_INTERVIEW_DATE", 1,
                            "interview_date"),
    "opt-out-without-date": Case(with_row({"outcome": "OPT_OUT", "interview_date": "", **{q: "" for q in QUESTIONS}}),
                                 "quarantined", "INTERVIEW_OUTSIDE_WINDOW", 1, "interview_date"),
    # accepted
    "clean": Case(lambda rows, c: as_csv(rows), "accepted"),
    "dont-know-and-not-applicable": Case(with_row({"ease_of_contact": "8", "treatment": "9"}), "accepted"),
    "wrong-number-without-date": Case(
        with_row({"outcome": "WRONG_NUMBER", "interview_date": "", **{q: "" for q in QUESTIONS}}), "accepted"),
    "windows-line-ends-and-bom": Case(lambda rows, c: b"\xef\xbb\xbf" + as_csv(rows, line_end="\r\n"), "accepted"),
    "spaces-around-values": Case(with_row({"outcome": " COMPLETE ", "treatment": " 3"}), "accepted"),
}


def _stored(warehouse_rows, warehouse, month: str) -> dict:
    on = [date.fromisoformat(month)]
    return {
        "responses": warehouse_rows(warehouse, "SELECT * FROM staging.survey_responses WHERE sampling_month = ?", on),
        "quarantine": warehouse_rows(warehouse, "SELECT * FROM ops.returns_quarantine WHERE sampling_month = ?", on),
        "register": warehouse_rows(warehouse, "SELECT person_key, phone_key FROM ops.opt_out_register"),
    }


@pytest.fixture
def may_answered(generator_handoffs, tmp_path, tmp_path_factory, materialize_vsat) -> dict:
    """April and May handed off; May's returns (the stand-in's) stored."""
    def build() -> None:
        simulate_returns(tmp_path / "outbox" / "handoff_2025-05.csv", tmp_path / "inbox")
        assert materialize_vsat(generator_handoffs, partition=MAY, selection=("survey_responses",)).success

    cached_state(tmp_path_factory, tmp_path, "generator-2025-05-returns", build)
    return generator_handoffs


def _april_cohort(warehouse_rows, warehouse) -> list[dict]:
    names = ("survey_id", "contact_from", "contact_until")
    rows = warehouse_rows(warehouse, f"""SELECT {", ".join(names)} FROM intermediate.sampled_cohort
                                        WHERE sampling_month = ? AND contact_until > handoff_date""",
                          [date.fromisoformat(APRIL)])
    return [dict(zip(names, r)) for r in rows]


@pytest.mark.parametrize("name", RETURNS_CASES)
def test_a_malformed_returns_file(
    name, may_answered, tmp_path, materialize_vsat, warehouse_rows, failure_messages
):
    case = RETURNS_CASES[name]
    warehouse = may_answered["warehouse"]
    cohort = _april_cohort(warehouse_rows, warehouse)
    clean = [{"survey_id": r["survey_id"], "outcome": "COMPLETE", "interview_date": r["contact_from"].isoformat(),
              **{q: "2" for q in QUESTIONS}} for r in cohort]
    path = tmp_path / "inbox" / RETURNS_FILE
    if name == "wrong-month":
        simulate_returns(tmp_path / "outbox" / "handoff_2025-05.csv", tmp_path / "elsewhere")
        path.write_bytes((tmp_path / "elsewhere" / "returns_2025-05.csv").read_bytes())
    else:
        path.write_bytes(case.damage(clean, cohort))
    may_before, april_before = _stored(warehouse_rows, warehouse, MAY), _stored(warehouse_rows, warehouse, APRIL)

    result = materialize_vsat(may_answered, partition=APRIL, selection=("survey_responses",))

    may_after, april_after = _stored(warehouse_rows, warehouse, MAY), _stored(warehouse_rows, warehouse, APRIL)
    assert (may_after["responses"], may_after["quarantine"]) == (may_before["responses"], may_before["quarantine"])
    data_rows = len(clean) + (1 if name == "duplicate-row" else 0)
    row = data_rows if case.row == -1 else case.row
    if case.outcome == "rejected":
        assert not result.success
        message = "\n".join(failure_messages(result))
        assert f"ReturnsFileError: {RETURNS_FILE}" in message and case.problem in message, message
        if row is not None:
            assert f"{RETURNS_FILE}, row {row}" in message, message
        if case.column:
            assert f"column {case.column}" in message, message
        if name == "wrong-month":  # May's file: its opt-outs (of May's victims, already stored) are kept
            assert set(april_before["register"]) <= set(april_after["register"])
            april_after["register"] = april_before["register"]
        assert april_after == april_before
        return
    assert result.success, failure_messages(result)
    stored_ids = sorted(r[1] for r in april_after["responses"])
    if case.outcome == "quarantined":
        quarantined = [(q[2], q[5], q[4]) for q in april_after["quarantine"]]
        assert quarantined == [(row, case.problem, case.column)]
        # The faulty row is row 1, except for the duplicate (a second copy of row 1, at the end).
        accepted = clean if name == "duplicate-row" else clean[1:]
        assert stored_ids == sorted(r["survey_id"] for r in accepted)
    else:
        assert april_after["quarantine"] == []
        assert stored_ids == sorted(r["survey_id"] for r in clean)
    opted_out = 1 if name == "opt-out-without-date" else 0
    assert len(april_after["register"]) == len(april_before["register"]) + opted_out


@pytest.mark.parametrize("damage", ["long-row", "not-utf8", "missing-column"])
def test_the_opt_outs_of_a_rejected_returns_file_still_reach_the_register(
    damage, may_answered, tmp_path, materialize_vsat, warehouse_rows
):
    warehouse = may_answered["warehouse"]
    cohort = _april_cohort(warehouse_rows, warehouse)
    rows = [{"survey_id": r["survey_id"], "outcome": "COMPLETE", "interview_date": r["contact_from"].isoformat(),
             **{q: "2" for q in QUESTIONS}} for r in cohort]
    rows[0] = {"survey_id": rows[0]["survey_id"], "outcome": "OPT_OUT", "interview_date": ""}
    text = as_csv(rows, RETURNS_COLUMNS[:-1] if damage == "missing-column" else RETURNS_COLUMNS)
    lines = text.split(b"\n")
    if damage == "long-row":
        lines[2] += b",7"
    if damage == "not-utf8":
        lines[3] = lines[3].replace(b",COMPLETE,", b",COMPL\xe9TE,")
    # ... and the last row is an opt-out cut short after its outcome.
    lines[-2] = cohort[-1]["survey_id"].encode() + b",OPT_OUT"
    (tmp_path / "inbox" / RETURNS_FILE).write_bytes(b"\n".join(lines))
    before = _stored(warehouse_rows, warehouse, APRIL)

    result = materialize_vsat(may_answered, partition=APRIL, selection=("survey_responses",))

    assert not result.success
    after = _stored(warehouse_rows, warehouse, APRIL)
    assert (after["responses"], after["quarantine"]) == (before["responses"], before["quarantine"])
    added = set(after["register"]) - set(before["register"])
    keys = dict(warehouse_rows(warehouse, "SELECT survey_id, person_key FROM intermediate.sampled_cohort"))
    assert {person for person, _ in added} == {keys[cohort[0]["survey_id"]], keys[cohort[-1]["survey_id"]]}


def test_a_replacement_returns_file_that_would_drop_stored_responses_is_refused_unless_the_operator_says_so(
    may_answered, tmp_path, materialize_vsat, warehouse_rows, failure_messages
):
    """Measured before: a corrected file with 40 rows silently replaced the 415 responses stored."""
    warehouse = may_answered["warehouse"]
    stored = _stored(warehouse_rows, warehouse, MAY)
    may_file = tmp_path / "inbox" / "returns_2025-05.csv"
    rows = list(csv.DictReader(io.StringIO(may_file.read_text())))
    quitter = next(i for i, r in enumerate(rows) if r["outcome"] == "COMPLETE")
    kept = rows[:quitter] + [{**rows[quitter], "outcome": "OPT_OUT", **{q: "" for q in QUESTIONS}}]
    may_file.write_bytes(as_csv(kept))

    refused = materialize_vsat(may_answered, partition=MAY, selection=("survey_responses",))

    assert not refused.success
    message = "\n".join(failure_messages(refused))
    lost = len(stored["responses"]) - len(kept)
    assert f"would drop {lost} of the {len(stored['responses'])} responses stored for 2025-05" in message
    assert "replace_stored_responses: true" in message
    after = _stored(warehouse_rows, warehouse, MAY)
    assert (after["responses"], after["quarantine"]) == (stored["responses"], stored["quarantine"])
    assert len(after["register"]) == len(stored["register"]) + 1  # its opt-out is honoured all the same

    config = {"ops": {"survey_responses": {"config": {"replace_stored_responses": True}}}}
    from dagster import materialize

    from vsat_assets.definitions import defs
    replaced = materialize([*defs.assets, *defs.asset_checks], resources=may_answered, partition_key=MAY,
                           selection=["survey_responses"], run_config=config, raise_on_error=False)
    assert replaced.success
    assert len(_stored(warehouse_rows, warehouse, MAY)["responses"]) == len(kept)


# ----------------------------------------------------------------------------- exports
def frame_csv(frame: pl.DataFrame) -> bytes:
    return frame.write_csv().encode("utf-8")


def cell(column: str, value: str, row: int = 3) -> Callable:
    def damage(frame):
        values = frame[column].to_list()
        values[row - 1] = value
        return frame_csv(frame.with_columns(pl.Series(column, values)))
    return damage


def text_edit(edit: Callable[[bytes], bytes]) -> Callable:
    return lambda frame: edit(frame_csv(frame))


def _lines(edit):
    return text_edit(lambda text: b"\n".join(edit(text.split(b"\n"))))


def _second_force(frame):
    other = frame.head(1).with_columns(pl.lit("NBR").alias("force_code"))
    return frame_csv(pl.concat([frame, other]))


def _unreadable_parquet(frame):
    return b"PAR1 this is not a parquet file PAR1"


EXPORT_CASES = {
    "empty-file": Case(lambda f: b"", "rejected", "file is empty"),
    "header-only": Case(lambda f: frame_csv(f.head(0)), "rejected", "no data rows"),
    "no-header-row": Case(_lines(lambda ls: ls[1:]), "rejected", "is the header row missing"),
    "semicolons": Case(text_edit(lambda t: t.replace(b",", b";")), "rejected", "is the header row missing"),
    "missing-column": Case(lambda f: frame_csv(f.drop("victim_phone")), "rejected", "missing column(s): victim_phone"),
    "extra-column": Case(lambda f: frame_csv(f.with_columns(pl.lit("x").alias("notes"))), "rejected",
                         "unexpected column(s): notes"),
    "truncated-last-line": Case(_lines(lambda ls: ls[:-2] + [ls[-2].rsplit(b",", 5)[0], b""]), "rejected",
                                "has 15 fields, the header 20", row=6),
    "unquoted-comma": Case(_lines(lambda ls: ls[:3] + [ls[3].replace(b"ASB - personal", b"ASB, personal")]
                                  + ls[4:]), "rejected", "has 21 fields, the header 20", row=3),
    "blank-line": Case(_lines(lambda ls: ls[:2] + [b""] + ls[2:]), "rejected", "the row is blank", row=2),
    "nul-in-surname": Case(cell("victim_surname", "Exa\x00mple"), "rejected", "control character", 3,
                           "victim_surname"),
    "line-break-in-forename": Case(cell("victim_forename", "Tes\nty", 2), "rejected", "control character", 2,
                                   "victim_forename"),
    "escape-in-description": Case(cell("offence_description", "Burglary\x1b[31m", 4), "rejected",
                                  "control character", 4, "offence_description"),
    "bell-in-phone": Case(cell("victim_phone", "07700 900\x07123", 5), "rejected", "control character", 5,
                          "victim_phone"),
    "unknown-area": Case(cell("policing_area", "WEST_DURHAM"), "rejected", "not one of the force's policing areas",
                         3, "policing_area"),
    "unknown-offence": Case(cell("offence_code", "BURG_XYZ"), "rejected", "not an offence code of the catalogue",
                            3, "offence_code"),
    "unknown-record-type": Case(cell("record_type", "INCIDENT"), "rejected", "is not a record type", 3,
                                "record_type"),
    "uk-date": Case(cell("report_date", "03/04/2025"), "rejected", "is not a date", 3, "report_date"),
    "impossible-date": Case(cell("victim_date_of_birth", "1980-02-30"), "rejected", "is not a date", 3,
                            "victim_date_of_birth"),
    "date-outside-month": Case(cell("report_date", "2025-05-01"), "rejected", "outside the file's month", 3,
                               "report_date"),
    "word-in-flag": Case(cell("is_sensitive", "Placeholderson"), "rejected", "is not a boolean", 3, "is_sensitive"),
    "blank-reference": Case(cell("crime_reference", ""), "rejected", "required", 3, "crime_reference"),
    "blank-force": Case(cell("force_code", ""), "rejected", "required", 3, "force_code"),
    "duplicate-victim": Case(lambda f: frame_csv(pl.concat([f, f.head(1)])), "rejected", "repeat those of line 2",
                             7, "crime_reference"),
    "latin-1": Case(text_edit(lambda t: t.replace("Testy".encode(), "Tésty".encode("latin-1"), 1)), "rejected",
                    "not valid UTF-8", 1),
    "unreadable-parquet": Case(_unreadable_parquet, "rejected", "not a readable Parquet file"),
    # accepted
    "clean": Case(frame_csv, "accepted"),
    "tab-in-name": Case(cell("victim_forename", "Testy\tJr"), "accepted"),
    "quoted-comma": Case(cell("offence_description", "Violence, with injury"), "accepted"),
    "accents": Case(cell("victim_surname", "Ó'Fakébury-Zoë"), "accepted"),
    "formula-like-name": Case(cell("victim_surname", "=HYPERLINK(\"x\")"), "accepted"),
    "same-ids-in-another-force": Case(_second_force, "accepted"),
}


@pytest.fixture
def april_export_stored(export_resources, drop_dir, tmp_path, tmp_path_factory, materialize_vsat) -> dict:
    def build() -> None:
        ExportWriter(drop_dir).write(date(2025, 4, 1))
        assert materialize_vsat(export_resources, partition=APRIL,
                                selection=("offence_catalogue", "raw_reports")).success

    cached_state(tmp_path_factory, tmp_path, "export-2025-04-raw", build)
    return export_resources


def _personal_values(frame: pl.DataFrame) -> set[str]:
    columns = ("crime_reference", "victim_person_id", "victim_forename", "victim_surname",
               "victim_date_of_birth", "victim_phone", "report_date")
    return {v for c in columns for v in frame[c].to_list() if v}


@pytest.mark.parametrize("name", EXPORT_CASES)
def test_a_malformed_export(name, april_export_stored, drop_dir, materialize_vsat, warehouse_rows, failure_messages):
    case = EXPORT_CASES[name]
    warehouse = april_export_stored["warehouse"]
    frame = ExportWriter.frame(date(2025, 4, 1))
    (drop_dir / EXPORT_FILE).unlink(missing_ok=True)  # cached_state copies the warehouse, not the drop folder
    file = EXPORT_FILE.replace(".csv", ".parquet") if name == "unreadable-parquet" else EXPORT_FILE
    (drop_dir / file).write_bytes(case.damage(frame))
    stored_sql = "SELECT * EXCLUDE (source_file) FROM raw.reports"
    before = warehouse_rows(warehouse, stored_sql)

    result = materialize_vsat(april_export_stored, partition=APRIL, selection=("raw_reports",))

    if case.outcome == "rejected":
        assert not result.success
        message = "\n".join(failure_messages(result))
        # The run's failure is the one clear line, with no chained traceback behind it.
        failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
        assert failure.user_failure_data.description.startswith(file), failure.user_failure_data.description
        assert case.problem in failure.user_failure_data.description
        assert "\n" not in failure.user_failure_data.description
        assert failure.error.cause is None and failure.error.context is None, message
        if case.row is not None:  # a CSV's place is the file's line: the header is line 1
            assert f"{file} line {case.row + 1}" in failure.user_failure_data.description, message
        if case.column:
            assert f"column {case.column}" in message, message
        metadata = failure.user_failure_data.metadata
        assert metadata["file"].value == file
        if case.row is not None:
            assert metadata["line"].value == case.row + 1 and metadata["column" if case.column else "file"]
        assert not [v for v in _personal_values(frame) if v in message]
        assert not [v for v in _personal_values(frame) if v in repr(metadata)]
        assert warehouse_rows(warehouse, stored_sql) == before
        return
    assert result.success, failure_messages(result)
    stored = pl.read_csv(drop_dir / file, infer_schema=False)
    assert warehouse_rows(warehouse, "SELECT count(*) FROM raw.reports") == [(stored.height,)]
    if name == "same-ids-in-another-force":
        assert warehouse_rows(warehouse, "SELECT force_code FROM raw.reports WHERE crime_reference = ?",
                              [frame["crime_reference"][0]]) == [("DUR",), ("NBR",)]
