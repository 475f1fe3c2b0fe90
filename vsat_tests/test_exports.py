from datetime import date
from pathlib import Path

import polars as pl
import pytest

from vsat_assets.defs.raw_reports.exports import (
    ExportFileError,
    export_files_for_month,
    read_export_file,
    read_month_exports,
)
from vsat_assets.defs.raw_reports.schema import REPORT_COLUMNS

APRIL = date(2023, 4, 1)
PHONE = "07700 900123"


def sample_frame(rows: int = 6, ref_prefix: str = "DUR/23/") -> pl.DataFrame:
    """A valid, plainly fake export of `rows` rows, every column as text."""
    return pl.DataFrame({
        "force_code": ["DUR"] * rows,
        "crime_reference": [f"{ref_prefix}{i:05d}" for i in range(rows)],
        "report_date": [f"2023-04-{i % 28 + 1:02d}" for i in range(rows)],
        "record_type": ["CRIME" if i % 2 else "ASB" for i in range(rows)],
        "offence_code": ["BURG_RES"] * rows,
        "offence_description": ["Burglary - residential"] * rows,
        "policing_area": ["NORTH_DURHAM"] * rows,
        "victim_person_id": [f"P{i:06d}" for i in range(rows)],
        "victim_title": ["Mx"] * rows,
        "victim_forename": ["Testy"] * rows,
        "victim_surname": ["Example"] * rows,
        "victim_date_of_birth": ["1980-01-31"] * rows,
        "victim_phone": [PHONE] * rows,
        "victim_ethnicity": ["NOT_STATED"] * rows,
        "is_organisation": ["false"] * rows,
        "police_on_duty": ["N"] * rows,
        "is_deceased": ["0"] * rows,
        "is_sensitive": ["no"] * rows,
        "is_domestic_abuse": ["T"] * rows,
        "safe_to_contact": ["" if i == 0 else "Yes" for i in range(rows)],
    })


def write_csv(tmp_path: Path, frame: pl.DataFrame, name: str = "reports_2023-04.csv") -> Path:
    path = tmp_path / name
    frame.write_csv(path)
    return path


def set_cell(frame: pl.DataFrame, column: str, row: int, value: str | None) -> pl.DataFrame:
    """Return frame with the 1-based data row `row` of `column` replaced."""
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def assert_error(err: ExportFileError, file: str, row: int | None, column: str | None) -> None:
    assert (err.file, err.row, err.column) == (file, row, column)
    assert str(err).startswith(file)
    for secret in ("DUR/23/", "Testy", "Example", PHONE, "1980-01-31", "P0000"):
        assert secret not in str(err)


def test_valid_csv_reads_back_typed(tmp_path):
    frame = read_export_file(write_csv(tmp_path, sample_frame()), APRIL)
    assert frame.schema == pl.Schema({**REPORT_COLUMNS, "source_file": pl.String})
    assert frame.height == 6
    assert frame["report_date"][0] == date(2023, 4, 1)
    assert frame["is_domestic_abuse"].to_list() == [True] * 6
    assert frame["is_organisation"].to_list() == [False] * 6
    assert frame["safe_to_contact"][0] is None
    assert frame["source_file"].unique().to_list() == ["reports_2023-04.csv"]


def test_csv_values_are_trimmed_and_blank_is_null(tmp_path):
    frame = set_cell(sample_frame(), "victim_ethnicity", 2, "   ")
    frame = set_cell(frame, "is_sensitive", 3, "  YES ")
    out = read_export_file(write_csv(tmp_path, frame), APRIL)
    assert out["victim_ethnicity"][1] is None
    assert out["is_sensitive"][2] is True


def test_valid_parquet_with_typed_columns(tmp_path):
    frame = sample_frame().with_columns(
        pl.col("report_date", "victim_date_of_birth").str.to_date(),
        pl.col("is_organisation") == "true",
    )
    path = tmp_path / "reports_2023-04_part2.parquet"
    frame.write_parquet(path)
    out = read_export_file(path, APRIL)
    assert out.schema == pl.Schema({**REPORT_COLUMNS, "source_file": pl.String})
    assert out["is_deceased"].to_list() == [False] * 6
    assert out["source_file"][0] == "reports_2023-04_part2.parquet"


def test_month_concatenates_its_files_and_ignores_other_months(tmp_path):
    write_csv(tmp_path, sample_frame(4))
    sample_frame(3, ref_prefix="DUR/23/9").write_parquet(tmp_path / "reports_2023-04_part2.parquet")
    write_csv(tmp_path, set_cell(sample_frame(2), "report_date", 1, "2023-05-01"), "reports_2023-05.csv")
    (tmp_path / "notes.txt").write_text("ignore me")

    assert [p.name for p in export_files_for_month(tmp_path, APRIL)] == [
        "reports_2023-04.csv", "reports_2023-04_part2.parquet",
    ]
    month = read_month_exports(tmp_path, APRIL)
    assert month.height == 7
    assert month["source_file"].value_counts().height == 2


def test_month_without_files_is_empty(tmp_path):
    assert read_month_exports(tmp_path, APRIL).height == 0


def test_missing_column(tmp_path):
    path = write_csv(tmp_path, sample_frame().drop("victim_phone", "is_sensitive"))
    with pytest.raises(ExportFileError) as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.csv", None, None)
    assert "victim_phone" in str(e.value) and "is_sensitive" in str(e.value)


def test_extra_column(tmp_path):
    path = write_csv(tmp_path, sample_frame().with_columns(pl.lit("x").alias("notes")))
    with pytest.raises(ExportFileError, match="unexpected column.*notes") as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.csv", None, None)


def test_bad_date_names_first_bad_row(tmp_path):
    frame = set_cell(sample_frame(), "report_date", 4, "2023-13-01")
    frame = set_cell(frame, "report_date", 5, "01/04/2023")
    with pytest.raises(ExportFileError) as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 4, "report_date")
    assert str(e.value) == (
        "reports_2023-04.csv line 5, column report_date: the value is not a date (expected YYYY-MM-DD)"
    )


def test_bad_date_of_birth_is_not_echoed(tmp_path):
    frame = set_cell(sample_frame(), "victim_date_of_birth", 2, "1980-02-30")
    with pytest.raises(ExportFileError, match="not a date") as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 2, "victim_date_of_birth")
    assert "1980-02-30" not in str(e.value)


def test_non_iso_date_in_parquet_string_column(tmp_path):
    path = tmp_path / "reports_2023-04.parquet"
    set_cell(sample_frame(), "report_date", 3, "2023-4-3").write_parquet(path)
    with pytest.raises(ExportFileError, match="the value is not a date") as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.parquet", 3, "report_date")


def test_date_outside_month(tmp_path):
    frame = set_cell(sample_frame(), "report_date", 6, "2023-05-01")
    with pytest.raises(ExportFileError) as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 6, "report_date")
    # the date is not echoed: in a file whose columns slipped it could be a date of birth
    assert "2023-05-01" not in str(e.value) and "outside the file's month 2023-04" in str(e.value)


def test_bad_boolean(tmp_path):
    frame = set_cell(sample_frame(), "police_on_duty", 3, "MAYBE")
    with pytest.raises(ExportFileError, match="'MAYBE' is not a boolean") as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 3, "police_on_duty")


def test_null_required_field(tmp_path):
    frame = set_cell(sample_frame(), "offence_code", 5, "")
    with pytest.raises(ExportFileError, match="required") as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 5, "offence_code")


def test_null_required_field_in_parquet(tmp_path):
    path = tmp_path / "reports_2023-04.parquet"
    set_cell(sample_frame(), "crime_reference", 2, None).write_parquet(path)
    with pytest.raises(ExportFileError, match="required") as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.parquet", 2, "crime_reference")


def test_unknown_record_type(tmp_path):
    frame = set_cell(sample_frame(), "record_type", 2, "INCIDENT")
    with pytest.raises(ExportFileError, match="'INCIDENT'") as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 2, "record_type")


def test_duplicate_within_file(tmp_path):
    frame = sample_frame()
    for column in ("crime_reference", "victim_person_id"):
        frame = set_cell(frame, column, 5, frame[column][1])
    with pytest.raises(ExportFileError) as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert_error(e.value, "reports_2023-04.csv", 5, "crime_reference")
    assert "repeat those of line 3" in str(e.value)  # data row 2 is the file's line 3
    assert str(e.value).startswith("reports_2023-04.csv line 6, column crime_reference:")


def test_same_crime_different_victims_is_fine(tmp_path):
    frame = set_cell(sample_frame(), "crime_reference", 3, "DUR/23/00000")
    assert read_export_file(write_csv(tmp_path, frame), APRIL).height == 6


def test_duplicate_across_files(tmp_path):
    write_csv(tmp_path, sample_frame(4))
    later = set_cell(sample_frame(3, ref_prefix="DUR/23/9"), "crime_reference", 2, "DUR/23/00003")
    later = set_cell(later, "victim_person_id", 2, "P000003")
    later.write_parquet(tmp_path / "reports_2023-04_part2.parquet")
    with pytest.raises(ExportFileError) as e:
        read_month_exports(tmp_path, APRIL)
    assert_error(e.value, "reports_2023-04_part2.parquet", 2, "crime_reference")
    assert "reports_2023-04.csv line 5" in str(e.value)  # the CSV's line, the Parquet's row
    assert str(e.value).startswith("reports_2023-04_part2.parquet row 2, column crime_reference:")


def test_wrong_encoding_names_the_row(tmp_path):
    path = write_csv(tmp_path, sample_frame())
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text[3] = text[3].replace("Testy", "Zo\xeb")
    path.write_bytes("".join(text).encode("latin-1"))
    with pytest.raises(ExportFileError, match="UTF-8") as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.csv", 3, None)
    assert "Zo" not in str(e.value)


def test_utf8_names_are_accepted(tmp_path):
    frame = set_cell(sample_frame(), "victim_forename", 2, "Zoë")
    assert read_export_file(write_csv(tmp_path, frame), APRIL)["victim_forename"][1] == "Zoë"


@pytest.mark.parametrize("content", [b"", ",".join(REPORT_COLUMNS).encode() + b"\n"])
def test_empty_file_or_header_only(tmp_path, content):
    path = tmp_path / "reports_2023-04.csv"
    path.write_bytes(content)
    with pytest.raises(ExportFileError) as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.csv", None, None)


def test_error_is_a_value_error_and_picklable():
    import pickle

    err = pickle.loads(pickle.dumps(ExportFileError("f.csv", "bad", row=3, column="c")))
    assert isinstance(err, ValueError)
    assert (err.file, err.row, err.column, err.problem, err.line) == ("f.csv", 3, "c", "bad", 4)
    assert str(err) == "f.csv line 4, column c: bad"


def test_parquet_text_is_trimmed_like_csv(tmp_path):
    path = tmp_path / "reports_2023-04.parquet"
    frame = set_cell(sample_frame(), "policing_area", 1, "  EAST_DURHAM ")
    set_cell(frame, "victim_ethnicity", 2, " ").write_parquet(path)
    out = read_export_file(path, APRIL)
    assert out["policing_area"][0] == "EAST_DURHAM"
    assert out["victim_ethnicity"][1] is None


def test_parquet_column_of_wrong_type(tmp_path):
    path = tmp_path / "reports_2023-04.parquet"
    sample_frame().with_columns(pl.lit(1.5).alias("report_date")).write_parquet(path)
    with pytest.raises(ExportFileError, match="type") as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.parquet", None, "report_date")


def test_ragged_csv_row(tmp_path):
    path = write_csv(tmp_path, sample_frame())
    path.write_text(path.read_text() + "DUR,DUR/23/77777,2023-04-02,CRIME,x,y,z,P1,Mx,Testy,Example,,,,,,,,,,extra\n")
    with pytest.raises(ExportFileError, match="has 21 fields, the header 20") as e:
        read_export_file(path, APRIL)
    assert_error(e.value, "reports_2023-04.csv", 7, None)


def test_a_word_in_a_flag_column_is_not_echoed(tmp_path):
    # Columns that slipped put a surname where a flag belongs: the message must not carry it.
    frame = set_cell(sample_frame(), "police_on_duty", 3, "Testington")
    with pytest.raises(ExportFileError, match="the value is not a boolean") as e:
        read_export_file(write_csv(tmp_path, frame), APRIL)
    assert "Testington" not in str(e.value)


def test_bad_date_of_birth_names_the_file_line_not_the_value(tmp_path):
    """Issue 18: the place is the file's line (header: line 1), and a date of birth is never echoed."""
    path = write_csv(tmp_path, set_cell(sample_frame(), "victim_date_of_birth", 2, "31/02/1990"))
    assert path.read_text().splitlines()[2].count("31/02/1990") == 1  # data row 2 is line 3
    with pytest.raises(ExportFileError) as e:
        read_export_file(path, APRIL)
    assert str(e.value) == ("reports_2023-04.csv line 3, column victim_date_of_birth: "
                            "the value is not a date (expected YYYY-MM-DD)")
    assert (e.value.row, e.value.line) == (2, 3)
    assert "31/02" not in str(e.value) and "1990" not in str(e.value)


def test_row_length_error_counts_lines_of_a_quoted_multi_line_cell(tmp_path):
    """A quoted cell spanning two lines (line 2-3) puts the next record on line 4: a short row
    there is reported at its line, not at data row + 1."""
    path = write_csv(tmp_path, sample_frame(3))
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("Burglary - residential", '"Burglary\nresidential"')
    lines[2] = lines[2].rsplit(",", 3)[0] + "\n"
    path.write_text("".join(lines))
    with pytest.raises(ExportFileError, match="has 17 fields") as e:
        read_export_file(path, APRIL)
    assert (e.value.row, e.value.line) == (2, 4)
    assert str(e.value).startswith("reports_2023-04.csv line 4: ")


def test_parquet_places_are_data_rows(tmp_path):
    path = tmp_path / "reports_2023-04.parquet"
    set_cell(sample_frame(), "record_type", 3, "INCIDENT").write_parquet(path)
    with pytest.raises(ExportFileError) as e:
        read_export_file(path, APRIL)
    assert e.value.line is None
    assert str(e.value).startswith("reports_2023-04.parquet row 3, column record_type: ")


def test_export_failure_is_one_line_without_personal_values():
    from vsat_assets.defs.raw_reports.assets import export_failure

    error = ExportFileError("reports_2023-04.csv", "the value is not a date (expected YYYY-MM-DD)",
                            row=2, column="victim_date_of_birth")
    failure = export_failure(error)
    assert failure.description == str(error)
    assert failure.description.startswith("reports_2023-04.csv line 3, column victim_date_of_birth:")
    assert {k: v.value for k, v in failure.metadata.items()} == {
        "file": "reports_2023-04.csv", "line": 3, "data_row": 2, "column": "victim_date_of_birth"}
