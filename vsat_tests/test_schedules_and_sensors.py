"""Schedules pick the right partition; the contractor inbox sensor starts each returns file once.

Schedules are called with `build_schedule_context(scheduled_execution_time=...)` as the
daemon would call them (times in the schedule's own time zone); the sensor with
`build_sensor_context`, a cursor and a `ContractorInbox` on a temporary folder.
The last tests load the whole code location and resolve every job, schedule and sensor.
"""

import json
import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import RunRequest, SkipReason, build_schedule_context, build_sensor_context, validate_run_config

from vsat_assets.partitions import financial_year_partitions, monthly_partitions
from vsat_assets.defs.responses.assets import ContractorInbox
from vsat_assets.partitions import TIMEZONE
from vsat_assets.defs.annual.schedules import annual_satisfaction_schedule, financial_year_just_ended_key
from vsat_assets.defs.handoff.schedules import monthly_survey_schedule, previous_month_key, retention_schedule
from vsat_assets.defs.quarterly.schedules import pcc_quarterly_pack_schedule
from vsat_assets.defs.handoff.sftp import ContractorSftp
from vsat_assets.defs.responses.sensors import contractor_returns_sensor
from vsat_assets.alerts.overdue import overdue_checks_schedule

ALL_SCHEDULES = [monthly_survey_schedule, annual_satisfaction_schedule, retention_schedule, pcc_quarterly_pack_schedule]
JOB_NAMES = ["monthly_survey_job", "survey_responses_job", "annual_satisfaction_job", "retention_job",
             "pcc_quarterly_pack_job"]

LONDON = ZoneInfo(TIMEZONE)
RETURNS_HEADER = "survey_id,outcome,interview_date,ease_of_contact,actions_taken,kept_informed,treatment,whole_experience\n"


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def _single_request(result) -> RunRequest:
    if isinstance(result, list):
        assert len(result) == 1, result
        result = result[0]
    assert isinstance(result, RunRequest), result
    return result


# ------------------------------------------------------------------ pure helpers
@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (date(2025, 5, 1), "2025-04-01"),
        (date(2026, 1, 1), "2025-12-01"),  # January builds the December of the year before
        (date(2025, 12, 1), "2025-11-01"),
        (date(2019, 5, 1), "2019-04-01"),  # the first partition
        (date(2024, 3, 1), "2024-02-01"),  # leap year February
        (date(2025, 5, 31), "2025-04-01"),  # any day of the month: the month before
        (datetime(2026, 1, 1, 6, 0, tzinfo=LONDON), "2025-12-01"),
    ],
)
def test_previous_month_key(when, expected):
    assert previous_month_key(when) == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (date(2026, 4, 5), "2025-04-01"),
        (date(2026, 3, 31), "2024-04-01"),  # 2025/26 has not ended yet on 31 March
        (date(2026, 4, 1), "2025-04-01"),  # ...and has on 1 April
        (date(2026, 1, 15), "2024-04-01"),
        (date(2025, 12, 31), "2024-04-01"),
        (date(2020, 4, 5), "2019-04-01"),  # the first financial-year partition
        (datetime(2026, 4, 5, 7, 0, tzinfo=LONDON), "2025-04-01"),
    ],
)
def test_financial_year_just_ended_key(when, expected):
    assert financial_year_just_ended_key(when) == expected


# --------------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [
        (_at(2025, 5, 1, 6), "2025-04-01"),
        (_at(2026, 1, 1, 6), "2025-12-01"),
        (_at(2025, 4, 1, 6), "2025-03-01"),  # 1 April builds March, the last month of the old year
        (_at(2025, 11, 1, 6), "2025-10-01"),  # the first 1st after the clocks go back
    ],
)
def test_monthly_schedule_builds_the_month_just_ended(scheduled, expected):
    request = _single_request(monthly_survey_schedule(build_schedule_context(scheduled_execution_time=scheduled)))

    assert request.partition_key == expected
    assert request.run_key == expected  # one run per month, however often the tick is retried
    assert expected in monthly_partitions.get_partition_keys(current_time=scheduled)


@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [
        (_at(2026, 4, 5, 7), "2025-04-01"),
        (_at(2026, 3, 31, 7), "2024-04-01"),
        (_at(2026, 4, 1, 7), "2025-04-01"),
    ],
)
def test_annual_schedule_builds_the_financial_year_just_ended(scheduled, expected):
    request = _single_request(annual_satisfaction_schedule(build_schedule_context(scheduled_execution_time=scheduled)))

    assert request.partition_key == expected
    assert request.run_key == expected
    assert expected in financial_year_partitions.get_partition_keys(current_time=scheduled)


@pytest.mark.parametrize(
    ("scheduled", "expected_day"),
    [
        (_at(2026, 6, 15, 2), "2026-06-15"),
        (_at(2026, 1, 1, 2), "2026-01-01"),
        (_at(2026, 3, 29, 2), "2026-03-29"),  # the night the clocks go forward
        (_at(2026, 6, 15, 0, 30), "2026-06-15"),  # 23:30 UTC the day before: the London day counts
    ],
)
def test_retention_schedule_passes_the_day_as_of(scheduled, expected_day):
    request = _single_request(retention_schedule(build_schedule_context(scheduled_execution_time=scheduled)))

    day_config = {"config": {"as_of": expected_day}}
    assert request.run_config == {
        "ops": {"retention_purge": day_config, "retention_purge_no_personal_data_past_retention": day_config}
    }
    assert request.run_key == expected_day
    assert request.partition_key is None


def test_schedules_run_on_their_documented_crons_in_london_time():
    crons = {s.name: (s.cron_schedule, s.execution_timezone, s.job_name) for s in ALL_SCHEDULES}
    assert crons == {
        "monthly_survey_schedule": ("0 6 1 * *", TIMEZONE, "monthly_survey_job"),
        "annual_satisfaction_schedule": ("0 7 5 4 *", TIMEZONE, "annual_satisfaction_job"),
        "retention_schedule": ("0 2 * * *", TIMEZONE, "retention_job"),
        "pcc_quarterly_pack_schedule": ("0 7 15 1,4,7,10 *", TIMEZONE, "pcc_quarterly_pack_job"),
    }


# ------------------------------------------------------------------------ sensor
def _evaluate(inbox: Path, cursor: str | None = None):
    """One sensor tick on `inbox`: (run requests, skip reason or None, the cursor it leaves)."""
    context = build_sensor_context(
        cursor=cursor,
        resources={"contractor_inbox": ContractorInbox(inbox=str(inbox)), "contractor_sftp": ContractorSftp()},
    )
    result = contractor_returns_sensor(context)
    if isinstance(result, SkipReason):
        return [], result, context.cursor
    requests = list(result) if isinstance(result, list) else [result]
    assert all(isinstance(r, RunRequest) for r in requests), requests
    return requests, None, context.cursor


def _write_returns(inbox: Path, name: str, rows: int = 1, mtime_ns: int | None = None) -> Path:
    path = inbox / name
    body = "".join(f"S{i:07d},NO_CONTACT,,,,,,\n" for i in range(rows))
    path.write_text(RETURNS_HEADER + body)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def _run_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.name}@{stat.st_size}-{stat.st_mtime_ns}"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_sensor_skips_while_there_is_no_inbox(tmp_path: Path):
    requests, skip, cursor = _evaluate(tmp_path / "no_such_inbox")

    assert requests == []
    assert isinstance(skip, SkipReason)
    assert "inbox" in (skip.skip_message or "")


def test_sensor_skips_an_empty_inbox(inbox: Path):
    requests, skip, cursor = _evaluate(inbox)

    assert requests == [] and isinstance(skip, SkipReason)
    assert json.loads(cursor or "{}") == {}


def test_sensor_requests_a_new_returns_file_once(inbox: Path):
    path = _write_returns(inbox, "returns_2025-04.csv")

    requests, skip, cursor = _evaluate(inbox)
    assert skip is None
    assert len(requests) == 1
    assert requests[0].partition_key == "2025-04-01"
    assert requests[0].run_key == _run_key(path)
    assert json.loads(cursor) == {"returns_2025-04.csv": _run_key(path).split("@", 1)[1]}

    again, skip, cursor_after = _evaluate(inbox, cursor)
    assert again == []
    assert isinstance(skip, SkipReason)
    assert json.loads(cursor_after) == json.loads(cursor)


def test_sensor_requests_a_replaced_file_again(inbox: Path):
    path = _write_returns(inbox, "returns_2025-04.csv", rows=1, mtime_ns=1_760_000_000_000_000_000)
    first, _, cursor = _evaluate(inbox)
    assert [r.run_key for r in first] == [_run_key(path)]

    # The contractor sends a corrected file: new content, new modification time.
    _write_returns(inbox, "returns_2025-04.csv", rows=3, mtime_ns=1_760_000_100_000_000_000)
    second, skip, cursor = _evaluate(inbox, cursor)
    assert skip is None and len(second) == 1
    assert second[0].partition_key == "2025-04-01"
    assert second[0].run_key == _run_key(path)
    assert second[0].run_key != first[0].run_key

    # Same size, only touched again: still a new version of the file.
    os.utime(path, ns=(1_760_000_200_000_000_000,) * 2)
    third, skip, cursor = _evaluate(inbox, cursor)
    assert [r.run_key for r in third] == [_run_key(path)]
    assert len({first[0].run_key, second[0].run_key, third[0].run_key}) == 3

    assert _evaluate(inbox, cursor)[0] == []


def test_sensor_requests_each_new_month_and_keeps_the_cursor_of_others(inbox: Path):
    april = _write_returns(inbox, "returns_2025-04.csv")
    _, _, cursor = _evaluate(inbox)

    may = _write_returns(inbox, "returns_2025-05.csv")
    june = _write_returns(inbox, "returns_2025-06.csv", rows=2)
    requests, skip, cursor = _evaluate(inbox, cursor)

    assert skip is None
    assert sorted((r.partition_key, r.run_key) for r in requests) == [
        ("2025-05-01", _run_key(may)),
        ("2025-06-01", _run_key(june)),
    ]
    assert set(json.loads(cursor)) == {april.name, may.name, june.name}
    assert _evaluate(inbox, cursor)[0] == []


@pytest.mark.parametrize(
    "name",
    [
        "returns_2019-03.csv",  # before the first partition
        "returns_2031-01.csv",  # a month that has not happened
        "returns_2025-13.csv",  # no such month
        "returns_2025-00.csv",
    ],
)
def test_sensor_ignores_a_month_outside_the_partitions(inbox: Path, name: str):
    _write_returns(inbox, name)

    requests, skip, cursor = _evaluate(inbox)
    assert requests == []
    assert isinstance(skip, SkipReason)
    # Noted in the cursor, so the warning is not repeated every minute.
    assert name in json.loads(cursor)
    assert _evaluate(inbox, cursor)[0] == []


@pytest.mark.parametrize(
    "name",
    [
        "returns_2025-4.csv",
        "returns_2025-04.CSV",
        "Returns_2025-04.csv",
        "returns_2025-04.csv.partial",
        ".returns_2025-04.csv",
        "returns_2025-04_v2.csv",
        "returns_2025-04.txt",
        "handoff_2025-04.csv",
        "returns-2025-04.csv",
    ],
)
def test_sensor_ignores_files_not_named_like_returns(inbox: Path, name: str):
    _write_returns(inbox, name)

    requests, skip, _ = _evaluate(inbox)
    assert requests == []
    assert isinstance(skip, SkipReason)


def test_sensor_picks_the_returns_out_of_a_mixed_inbox(inbox: Path):
    for name in ("notes.txt", "returns_2025-04.csv.partial", "returns_2019-01.csv"):
        _write_returns(inbox, name)
    good = _write_returns(inbox, "returns_2025-07.csv")

    requests, skip, _ = _evaluate(inbox)
    assert [(r.partition_key, r.run_key) for r in requests] == [("2025-07-01", _run_key(good))]


# ---------------------------------------------------- the code location resolves
@pytest.fixture(scope="module")
def defs():
    from vsat_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def repository(defs):
    return defs.get_repository_def()


@pytest.mark.parametrize("job_name", JOB_NAMES)
def test_every_job_resolves(defs, job_name: str):
    job = defs.resolve_job_def(job_name)

    assert job.name == job_name
    assert job.asset_layer.selected_asset_keys, f"{job_name} selects no asset"


MONTH_CHAIN = {"offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility", "eligible_victims",
               "sampling_frame", "sampled_cohort", "contractor_handoff"}
JOB_ASSETS = {
    # The month's chain to the hand-off and the month's own marts; not the opt-out register.
    "monthly_survey_job": MONTH_CHAIN | {"report_volumes", "exclusion_audit", "analytics_file"},
    "survey_responses_job": {"survey_responses", "responses", "survey_funnel", "satisfaction_rolling",
                             "satisfaction_da_monthly", "satisfaction_da_quarterly", "analytics_file"},
    "annual_satisfaction_job": {"response_weights", "satisfaction_annual", "satisfaction_gap", "satisfaction_rolling",
                                "comparator_figures", "satisfaction_comparison", "hmicfrs_export", "annual_report", "national_extract",
                                "analytics_file", "restricted_file"},
    "retention_job": {"retention_purge"},
    "pcc_quarterly_pack_job": {"pcc_quarterly_pack"},
}


@pytest.mark.parametrize("job_name", JOB_NAMES)
def test_each_job_selects_its_slice_of_the_lineage(defs, job_name: str):
    selected = {k.to_user_string() for k in defs.resolve_job_def(job_name).asset_layer.selected_asset_keys}
    assert selected == JOB_ASSETS[job_name]


def test_jobs_do_not_follow_asset_groups(defs, repository):
    """Regrouping assets in the UI leaves every job's slice as it was: jobs select by lineage."""
    from dagster import Definitions, map_asset_specs

    regrouped = Definitions(
        assets=map_asset_specs(lambda spec: spec.replace_attributes(group_name="elsewhere"), list(defs.assets)),
        asset_checks=defs.asset_checks, jobs=defs.jobs, resources=defs.resources,
    )
    for job_name in JOB_NAMES:
        selected = {k.to_user_string() for k in regrouped.resolve_job_def(job_name).asset_layer.selected_asset_keys}
        assert selected == JOB_ASSETS[job_name], job_name


def test_the_repository_loads_with_every_job_schedule_and_sensor(repository):
    jobs = {job.name for job in repository.get_all_jobs()}
    assert set(JOB_NAMES) <= jobs
    assert {s.name for s in repository.schedule_defs} == {s.name for s in [*ALL_SCHEDULES, overdue_checks_schedule]}
    assert {s.name for s in repository.sensor_defs} == {"contractor_returns_sensor", "run_failure_email_sensor",
                                                         "overdue_email_sensor"}
    for schedule in repository.schedule_defs:
        assert repository.get_job(schedule.job_name).name == schedule.job_name
    for sensor in repository.sensor_defs:  # the alert sensors watch runs and launch none
        for job in sensor.jobs if sensor.has_jobs else []:
            assert repository.get_job(job.name).name == job.name


@pytest.mark.parametrize(
    ("schedule", "scheduled"),
    [
        (monthly_survey_schedule, _at(2025, 5, 1, 6)),
        (annual_satisfaction_schedule, _at(2026, 4, 5, 7)),
    ],
)
def test_each_schedules_partition_exists_in_its_jobs_partitions(defs, schedule, scheduled):
    request = _single_request(schedule(build_schedule_context(scheduled_execution_time=scheduled)))
    job = defs.resolve_job_def(schedule.job_name)

    assert job.partitions_def is not None
    assert request.partition_key in job.partitions_def.get_partition_keys(current_time=scheduled)


def test_the_sensors_partitions_are_its_jobs_partitions(defs):
    job = defs.resolve_job_def(contractor_returns_sensor.job_name)

    assert job.partitions_def == monthly_partitions


def test_retention_schedules_run_config_is_valid_for_its_job(defs):
    request = _single_request(retention_schedule(build_schedule_context(scheduled_execution_time=_at(2026, 6, 15, 2))))

    # As the daemon does before launching: the run config must type-check against the job.
    validated = validate_run_config(defs.resolve_job_def("retention_job"), request.run_config)
    assert validated["ops"]["retention_purge"]["config"]["as_of"] == "2026-06-15"
