"""The contractor's returns file (docs/inputs.md, The contractor stand-in and the returns): file-level validation and row triage."""

import csv
import io
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from vsat_assets.csv_files import FileContentError, check_columns, check_no_control_characters, read_csv_as_strings
from vsat_assets.vocabulary import INTERVIEWED_OUTCOMES, OUTCOMES, QUESTIONS

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import polars as pl

RETURNS_COLUMNS = ("survey_id", "outcome", "interview_date", *QUESTIONS)
# Row faults, in the order they are looked for; a row is quarantined with the first.
ROW_FAULTS = (
    "UNKNOWN_SURVEY_ID", "DUPLICATE_SURVEY_ID", "UNKNOWN_OUTCOME", "ANSWER_OUT_OF_RANGE",
    "MISSING_ANSWER", "ANSWERS_ON_NON_COMPLETE", "BAD_INTERVIEW_DATE", "INTERVIEW_OUTSIDE_WINDOW",
)


class ReturnsFileError(FileContentError):
    """A returns file rejected whole: nothing of it is stored."""


def returns_name(month: date) -> str:
    return f"returns_{month:%Y-%m}.csv"


def read_returns(inbox: Path, month: date) -> "pl.DataFrame":
    """The month's returns as text with a 1-based `row_number`; file-level faults raise."""
    import polars as pl
    path = inbox / returns_name(month)
    if not path.exists():
        raise ReturnsFileError(path.name, f"no returns file for {month:%Y-%m} in {inbox}")
    frame = read_csv_as_strings(path, ReturnsFileError)
    check_columns(path.name, frame.columns, RETURNS_COLUMNS, ReturnsFileError)
    check_no_control_characters(path.name, frame.select(RETURNS_COLUMNS), error=ReturnsFileError)
    if frame.is_empty():
        raise ReturnsFileError(path.name, "the file has a header but no rows")
    return (
        frame.select([pl.col(c).str.strip_chars().replace("", None) for c in RETURNS_COLUMNS])
        .with_row_index("row_number", offset=1)
        .with_columns(pl.col("row_number").cast(pl.Int64))
    )


def opt_outs_in_rejected_file(inbox: Path, month: date) -> list[str]:
    """The survey_ids of the OPT_OUT rows of a file rejected whole, read as leniently as possible
    (bad bytes replaced, short and long rows taken as they are): an opt-out is honoured even
    when the file that carries it cannot be stored."""
    path = inbox / returns_name(month)
    if not path.is_file():
        return []
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    records = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(records, [])]
    if "survey_id" not in header or "outcome" not in header:
        return []
    at_id, at_outcome = header.index("survey_id"), header.index("outcome")
    return sorted({
        record[at_id].strip() for record in records
        if len(record) > max(at_id, at_outcome) and record[at_outcome].strip().upper() == "OPT_OUT"
    })


def check_month(conn: "duckdb.DuckDBPyConnection", file: str, month: date) -> None:
    """Reject a file that answers another month's hand-off (`incoming_returns` must be registered)."""
    this_month, other_month = conn.execute(
        """SELECT count(*) FILTER (WHERE f.report_month = $month),
                  arg_max(strftime(f.report_month, '%Y-%m'), f.report_month) FILTER (WHERE f.report_month <> $month)
           FROM incoming_returns r JOIN intermediate.sampling_frame f USING (survey_id)
           WHERE f.selection = 'SAMPLED'""",
        {"month": month},
    ).fetchall()[0]
    if this_month == 0 and other_month is not None:
        raise ReturnsFileError(
            file, f"its survey ids belong to the hand-off of {other_month}, not {month:%Y-%m}: wrong month?"
        )


def triage_sql() -> str:
    """Each returned row with its cohort details and its first fault (null: accepted).

    Reads `incoming_returns` (the file's rows) and the month's sampled frame rows.
    """
    answers_present = " OR ".join(f"{q} IS NOT NULL" for q in QUESTIONS)
    out_of_range = "\n".join(
        f"WHEN {q} IS NOT NULL AND NOT regexp_full_match({q}, '[1-9]') THEN '{q}'" for q in QUESTIONS
    )
    missing = "\n".join(f"WHEN {q} IS NULL THEN '{q}'" for q in QUESTIONS)
    answers = ",\n".join(f"TRY_CAST({q} AS INTEGER) AS {q}" for q in QUESTIONS)
    return f"""
        WITH returned AS (
            SELECT r.*, f.survey_id IS NOT NULL AS known, f.report_month AS sampling_month,
                   f.force_code, f.survey_strand, f.policing_area, f.victim_ethnicity, f.design_weight,
                   f.contact_from, f.contact_until, f.person_key, f.phone_key,
                   row_number() OVER (PARTITION BY r.survey_id ORDER BY r.row_number) AS occurrence,
                   TRY_CAST(r.interview_date AS DATE) AS interview_on,
                   CASE {out_of_range} END AS bad_answer_column,
                   CASE {missing} END AS missing_answer_column
            FROM incoming_returns r
            LEFT JOIN (SELECT * FROM intermediate.sampling_frame
                       WHERE report_month = $month AND selection = 'SAMPLED') f USING (survey_id)
        ),
        triaged AS (
            SELECT *,
                CASE
                    WHEN NOT known THEN 'UNKNOWN_SURVEY_ID'
                    WHEN occurrence > 1 THEN 'DUPLICATE_SURVEY_ID'
                    WHEN outcome IS NULL OR outcome NOT IN {OUTCOMES} THEN 'UNKNOWN_OUTCOME'
                    WHEN bad_answer_column IS NOT NULL THEN 'ANSWER_OUT_OF_RANGE'
                    -- an interview without an answer is not complete: 8 and 9 say don't know / not applicable
                    WHEN outcome = 'COMPLETE' AND missing_answer_column IS NOT NULL THEN 'MISSING_ANSWER'
                    WHEN outcome <> 'COMPLETE' AND ({answers_present}) THEN 'ANSWERS_ON_NON_COMPLETE'
                    WHEN interview_date IS NOT NULL AND interview_on IS NULL THEN 'BAD_INTERVIEW_DATE'
                    WHEN outcome IN {INTERVIEWED_OUTCOMES}
                         AND (interview_on IS NULL OR interview_on NOT BETWEEN contact_from AND contact_until)
                        THEN 'INTERVIEW_OUTSIDE_WINDOW'
                END AS fault,
                CASE
                    WHEN NOT known OR occurrence > 1 THEN 'survey_id'
                    WHEN outcome IS NULL OR outcome NOT IN {OUTCOMES} THEN 'outcome'
                    WHEN bad_answer_column IS NOT NULL THEN bad_answer_column
                    WHEN outcome = 'COMPLETE' AND missing_answer_column IS NOT NULL THEN missing_answer_column
                    WHEN outcome <> 'COMPLETE' AND ({answers_present}) THEN 'outcome'
                    ELSE 'interview_date'
                END AS fault_column
            FROM returned
        )
        SELECT row_number, survey_id, outcome, interview_on AS interview_date, {answers},
               sampling_month, force_code, survey_strand, policing_area, victim_ethnicity, design_weight,
               person_key, phone_key, fault, fault_column
        FROM triaged
    """
