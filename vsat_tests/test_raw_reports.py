"""raw_reports end to end through `dagster.materialize` on a temporary DuckDB warehouse.

Generator months, re-runs, partition ranges, export folders, every kind of rejected export
(and that a rejection leaves the stored month as it was), and that no personal value of
the data reaches Dagster's event log.
"""

from datetime import date

import polars as pl
import pytest

from vsat_assets.partitions import next_month

APRIL, MAY = date(2023, 4, 1), date(2023, 5, 1)
APRIL_KEY, MAY_KEY = "2023-04-01", "2023-05-01"
# The assets of this stage; later stages (eligibility, sampling...) are not run here.
RAW_TO_MARTS = ("offence_catalogue", "raw_reports", "stg_reports", "report_volumes")
TABLES = ("raw.reports", "staging.stg_reports", "marts.report_volumes")


def table_contents(warehouse_rows, warehouse) -> dict[str, list[tuple]]:
    """Full, sorted contents of every table the month run writes."""
    return {table: warehouse_rows(warehouse, f"SELECT * FROM {table}") for table in TABLES}


def materialized_assets(result) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def check_outcomes(result) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def personal_values(warehouse_rows, warehouse) -> set[str]:
    """Crime references, person ids, surnames, full names and phones stored in raw.reports.

    Forenames alone are left out: short ones ('Leo', 'Ava') occur inside ordinary words.
    Phones shorter than 10 characters are the generator's junk values ('n/a', '000').
    """
    values: set[str] = set()
    rows = warehouse_rows(
        warehouse,
        """SELECT crime_reference, victim_person_id, victim_forename, victim_surname, victim_phone
           FROM raw.reports""",
    )
    for reference, person_id, forename, surname, phone in rows:
        values |= {reference, person_id}
        if surname:
            values.add(surname)
            if forename:
                values.add(f"{forename} {surname}")
        if phone and len(phone) >= 10:
            values.add(phone)
    values |= {
        phone for (phone,) in warehouse_rows(
            warehouse, "SELECT phone_normalised FROM staging.stg_reports WHERE phone_normalised IS NOT NULL")
    }
    return values


def assert_no_personal_values(log_text: str, values: set[str]) -> None:
    assert values, "no personal values to look for: the scan would prove nothing"
    leaked = sorted(v for v in values if v in log_text)
    assert not leaked, f"{len(leaked)} personal values in the run's event log, e.g. {leaked[:3]}"


# ------------------------------------------------------------------ generator
def test_generator_month_builds_raw_staging_and_marts(
    resources, tmp_warehouse, materialize_vsat, warehouse_rows, run_log_text
):
    from vsat_assets.definitions import defs

    result = materialize_vsat(resources, partition=APRIL_KEY, selection=RAW_TO_MARTS)

    assert result.success
    assert materialized_assets(result) == set(RAW_TO_MARTS)
    [(first, last, reports)] = warehouse_rows(
        tmp_warehouse, "SELECT min(report_date), max(report_date), count(*) FROM raw.reports")
    assert reports > 50
    assert APRIL <= first and last < MAY
    # Every declared check ran on this partition and passed.
    outcomes = check_outcomes(result)
    declared = {
        f"{k.asset_key.to_user_string()}:{k.name}"
        for k in defs.resolve_asset_graph().asset_check_keys
        if k.asset_key.to_user_string() in RAW_TO_MARTS
    }
    assert set(outcomes) == declared
    assert all(outcomes.values()), {k: v for k, v in outcomes.items() if not v}
    # Staging has a row per raw row; the mart counts them all.
    [(staged,)] = warehouse_rows(tmp_warehouse, "SELECT count(*) FROM staging.stg_reports")
    [(counted, months)] = warehouse_rows(
        tmp_warehouse, "SELECT sum(reports), list(DISTINCT month) FROM marts.report_volumes")
    assert staged == counted == reports
    assert months == ["2023-04"]

    log_text = run_log_text(result)
    # The scan sees event metadata and log messages, or it would prove nothing.
    assert "reports_per_record_type" in log_text and "raw.reports 2023-04" in log_text
    assert_no_personal_values(log_text, personal_values(warehouse_rows, tmp_warehouse))


def test_generator_month_rerun_gives_identical_rows(resources, tmp_warehouse, materialize_vsat, warehouse_rows):
    assert materialize_vsat(resources, partition=APRIL_KEY, selection=RAW_TO_MARTS).success
    first = table_contents(warehouse_rows, tmp_warehouse)

    assert materialize_vsat(resources, partition=APRIL_KEY, selection=RAW_TO_MARTS).success

    assert table_contents(warehouse_rows, tmp_warehouse) == first
    assert all(first.values())


@pytest.mark.slow
def test_partition_range_equals_months_run_one_by_one(
    resources, make_resources, tmp_warehouse, materialize_vsat, warehouse_rows
):
    one_by_one = make_resources("generator", warehouse="one_by_one.duckdb")
    assert materialize_vsat(one_by_one, partition=APRIL_KEY, selection=RAW_TO_MARTS).success
    assert materialize_vsat(one_by_one, partition=MAY_KEY, selection=RAW_TO_MARTS).success

    result = materialize_vsat(resources, partition_range=(APRIL_KEY, MAY_KEY), selection=RAW_TO_MARTS)

    assert result.success
    assert materialized_assets(result) == set(RAW_TO_MARTS)
    assert all(check_outcomes(result).values())
    ranged = table_contents(warehouse_rows, tmp_warehouse)
    assert ranged == table_contents(warehouse_rows, one_by_one["warehouse"])
    months = {row[0] for row in warehouse_rows(
        tmp_warehouse, "SELECT DISTINCT strftime(report_date, '%Y-%m') FROM raw.reports")}
    assert months == {"2023-04", "2023-05"}


# -------------------------------------------------------------------- exports
def test_export_month_loads_exactly_the_files_rows(
    export_resources, export_writer, tmp_warehouse, materialize_vsat, warehouse_rows, run_log_text
):
    april = export_writer.frame(APRIL, rows=7)
    path = export_writer.write(APRIL, april)
    export_writer.write(MAY, rows=3)  # another month in the folder is not read

    result = materialize_vsat(export_resources, partition=APRIL_KEY, selection=RAW_TO_MARTS)

    assert result.success
    assert all(check_outcomes(result).values())
    stored = warehouse_rows(
        tmp_warehouse,
        """SELECT crime_reference, victim_person_id, strftime(report_date, '%Y-%m-%d'), record_type,
                  offence_code, policing_area, victim_forename, victim_surname,
                  strftime(victim_date_of_birth, '%Y-%m-%d'), victim_phone, source_file
           FROM raw.reports""",
    )
    expected = sorted(
        (tuple(r) + (path.name,) for r in april.select(
            "crime_reference", "victim_person_id", "report_date", "record_type", "offence_code",
            "policing_area", "victim_forename", "victim_surname", "victim_date_of_birth", "victim_phone",
        ).iter_rows()),
        key=repr,
    )
    assert stored == expected
    flags = warehouse_rows(
        tmp_warehouse,
        """SELECT DISTINCT is_organisation, police_on_duty, is_deceased, is_sensitive,
                  is_domestic_abuse, safe_to_contact FROM raw.reports""",
    )
    assert flags == [(False, False, False, False, False, None)]
    [(staged,)] = warehouse_rows(tmp_warehouse, "SELECT count(*) FROM staging.stg_reports")
    assert staged == 7
    assert_no_personal_values(run_log_text(result), personal_values(warehouse_rows, tmp_warehouse))


def _missing_column(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("victim_phone")


def _set(frame: pl.DataFrame, row: int, **values) -> pl.DataFrame:
    """`frame` with the given columns replaced on 1-based data row `row`."""
    index = pl.int_range(pl.len()) == row - 1
    return frame.with_columns(pl.when(index).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items())


def _unparseable_date(frame):
    return _set(frame, 3, report_date="2023-04-31")


def _date_outside_month(frame):
    """Row 4 dated the 2nd of the month after the file's month."""
    month = date.fromisoformat(frame["report_date"][0]).replace(day=1)
    return _set(frame, 4, report_date=next_month(month).replace(day=2).isoformat())


def _duplicate_reference_and_victim(frame):
    second = frame.row(1, named=True)
    return _set(frame, 5, crime_reference=second["crime_reference"], victim_person_id=second["victim_person_id"])


def _not_utf8(frame):
    return _set(frame, 2, victim_surname="Zoë-Example")


BAD_EXPORTS = [
    # (id, how the file is spoiled, its encoding, the parts the error must name besides the file)
    pytest.param(_missing_column, "utf-8", ["victim_phone"], id="missing_column"),
    pytest.param(_unparseable_date, "utf-8", ["line 4", "column report_date"], id="unparseable_date"),
    pytest.param(_date_outside_month, "utf-8", ["line 5", "column report_date"], id="date_outside_month"),
    pytest.param(_duplicate_reference_and_victim, "utf-8", ["line 6", "column crime_reference"],
                 id="duplicate_reference_and_victim"),
    # Places are the file's lines (header: line 1), so data row N is line N + 1. Bad bytes are found
    # before the CSV is parsed: the line is known, the column is not.
    pytest.param(_not_utf8, "cp1252", ["line 3"], id="wrong_encoding"),
]


@pytest.mark.parametrize(("spoil", "encoding", "named"), BAD_EXPORTS)
def test_bad_export_fails_naming_file_row_column_and_keeps_stored_month(
    spoil, encoding, named, export_resources, export_writer, tmp_warehouse,
    materialize_vsat, warehouse_rows, failure_messages, run_log_text,
):
    export_writer.write(APRIL, rows=6)
    assert materialize_vsat(export_resources, partition=APRIL_KEY, selection=RAW_TO_MARTS).success
    stored = table_contents(warehouse_rows, tmp_warehouse)
    personal = personal_values(warehouse_rows, tmp_warehouse)
    bad_frame = spoil(export_writer.frame(APRIL, rows=6))
    path = export_writer.write(APRIL, bad_frame, encoding=encoding)

    result = materialize_vsat(export_resources, partition=APRIL_KEY, selection=RAW_TO_MARTS)

    assert not result.success
    assert result.get_failed_step_keys() == {"raw_reports"}
    messages = failure_messages(result)
    assert any(path.name in m and all(part in m for part in named) for m in messages), messages
    assert table_contents(warehouse_rows, tmp_warehouse) == stored
    log_text = run_log_text(result)
    assert path.name in log_text  # the error is in the scanned text
    assert_no_personal_values(log_text, personal | set(bad_frame["victim_surname"]))


def test_bad_file_in_second_month_of_range_keeps_both_months(
    export_resources, export_writer, tmp_warehouse, materialize_vsat, warehouse_rows, failure_messages
):
    export_writer.write(APRIL, rows=5)
    export_writer.write(MAY, rows=4)
    assert materialize_vsat(export_resources, partition_range=(APRIL_KEY, MAY_KEY), selection=RAW_TO_MARTS).success
    stored = table_contents(warehouse_rows, tmp_warehouse)
    assert {r[0] for r in warehouse_rows(
        tmp_warehouse, "SELECT strftime(report_date, '%Y-%m') FROM raw.reports")} == {"2023-04", "2023-05"}
    # A new, valid April file and a May file with a date outside May.
    export_writer.write(APRIL, export_writer.frame(APRIL, rows=8, ref_prefix="NEW"))
    bad_may = export_writer.write(MAY, _date_outside_month(export_writer.frame(MAY, rows=6)))

    result = materialize_vsat(export_resources, partition_range=(APRIL_KEY, MAY_KEY), selection=RAW_TO_MARTS)

    assert not result.success
    messages = failure_messages(result)
    assert any(bad_may.name in m and "line 5" in m and "column report_date" in m for m in messages), messages
    assert table_contents(warehouse_rows, tmp_warehouse) == stored


def test_missing_export_file_keeps_stored_month(
    export_resources, export_writer, tmp_warehouse, materialize_vsat, warehouse_rows, failure_messages
):
    path = export_writer.write(APRIL, rows=4)
    assert materialize_vsat(export_resources, partition=APRIL_KEY, selection=RAW_TO_MARTS).success
    stored = table_contents(warehouse_rows, tmp_warehouse)
    path.unlink()

    result = materialize_vsat(export_resources, partition=APRIL_KEY, selection=RAW_TO_MARTS)

    assert not result.success
    assert any("reports_2023-04" in m for m in failure_messages(result))
    assert table_contents(warehouse_rows, tmp_warehouse) == stored
