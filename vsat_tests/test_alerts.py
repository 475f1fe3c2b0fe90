"""Alert mail: failed runs and overdue work, sent to a real SMTP server (aiosmtpd) started here.

Each test starts a local SMTP server on a free port, points VSAT_SMTP_* at it, evaluates the
sensor as the daemon would (Dagster's sensor test contexts on an ephemeral instance) and reads
the mail that arrived. Everyone in the runs is plainly fake.
"""

from __future__ import annotations

import socket
from datetime import date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    SkipReason,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)
from dagster._core.test_utils import freeze_time

from vsat_assets.alerts import mail
from vsat_assets.alerts.overdue import ANNUAL_TABLES, overdue_checks_job, overdue_email_sensor
from vsat_assets.alerts.run_failure import run_failure_email_sensor
from vsat_assets.partitions import monthly_partitions
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import ensure_schemas, warehouse_resource

# What a careless error message could carry; none of it may reach a mail.
PERSONAL = {"name": "Testy Example", "phone": "07700 900123", "dob": "1975-02-03",
            "address": "12 Fakebury Road", "crime_reference": "TST/C/2025-04/00042"}


class Inbox:
    """The local SMTP server's handler: keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_inbox(monkeypatch) -> Inbox:
    """A real SMTP server on 127.0.0.1 for this test, and the alert settings pointing at it."""
    inbox, port = Inbox(), _free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    for name, value in {"VSAT_SMTP_HOST": "127.0.0.1", "VSAT_SMTP_PORT": str(port),
                        "VSAT_SMTP_FROM": "vsat@force.example", "VSAT_ALERT_TO": "data-team@force.example, oncall@force.example",
                        "VSAT_DAGSTER_URL": "http://dagster.force.example:3000"}.items():
        monkeypatch.setenv(name, value)
    yield inbox
    server.stop()


def _body(message) -> str:
    return message.get_content()


def _failed_run(instance: DagsterInstance, error: str):
    @asset(name="victim_step", partitions_def=monthly_partitions)
    def victim_step():
        raise ValueError(error)

    return materialize([victim_step], instance=instance, partition_key="2025-04-01", raise_on_error=False)


def _failure_context(instance, result):
    return build_run_status_sensor_context(
        sensor_name="run_failure_email_sensor", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run,
    ).for_run_failure()


def test_a_failed_run_is_mailed_with_job_run_partition_step_and_error_but_no_personal_data(smtp_inbox):
    careless = (f"row 3 of drop/reports_2025-04.csv: victim '{PERSONAL['name']}' phone {PERSONAL['phone']} "
                f"born {PERSONAL['dob']} at \"{PERSONAL['address']}\" crime {PERSONAL['crime_reference']}")
    with DagsterInstance.ephemeral() as instance:
        result = _failed_run(instance, careless)
        assert not result.success
        run_failure_email_sensor(_failure_context(instance, result))

    assert len(smtp_inbox.messages) == 1
    recipients, message = smtp_inbox.messages[0]
    assert recipients == ["data-team@force.example", "oncall@force.example"]
    assert message["From"] == "vsat@force.example"
    run_id = result.dagster_run.run_id
    assert message["Subject"] == "[VSAT] run failed: __ephemeral_asset_job__ 2025-04-01 (victim_step)"
    body = _body(message)
    assert "Job:        __ephemeral_asset_job__" in body
    assert f"Run id:     {run_id}" in body
    assert "Partition:  2025-04-01" in body
    assert "Failed step: victim_step" in body
    error_line = next(line for line in body.splitlines() if line.startswith("Error:"))
    assert error_line.startswith("Error:      ValueError: row 3 of drop/reports_2025-04.csv: victim")
    assert f"http://dagster.force.example:3000/runs/{run_id}" in body
    mailed = f"{message['Subject']}\n{body}"  # decoded: the raw message may be base64 or quoted-printable
    for kind, value in PERSONAL.items():
        assert value not in mailed, kind
        assert value.split()[-1] not in mailed, kind  # not even the surname, the street or the number's tail


def test_a_run_stopped_by_a_blocking_check_is_mailed_with_the_check(smtp_inbox, tmp_path):
    from vsat_assets.defs.handoff.assets import HandoffSettings
    from vsat_assets.defs.handoff.sftp import ContractorSftp
    from vsat_tests.test_sampling import (
        APRIL, APRIL_STRATA, Warehouse, plant_opt_out_after_sampling, project_assets, stratum_rows)

    path, outbox = tmp_path / "warehouse.duckdb", tmp_path / "outbox"
    built = Warehouse(path, tmp_path / "drop")
    built.load(APRIL, stratum_rows(APRIL, APRIL_STRATA))
    built.build(APRIL, models=("stg_reports", "victim_eligibility", "eligible_victims", "sampling_frame"))
    plant_opt_out_after_sampling(built.conn)
    built.close()
    resources = {"warehouse": warehouse_resource(str(path)), "survey": SurveySettings(),
                 "handoff": HandoffSettings(outbox=str(outbox)), "contractor_sftp": ContractorSftp()}

    with DagsterInstance.ephemeral() as instance:
        # Without the Great Expectations suite (5 s to import): another blocking check of the cohort fails here.
        assets = [a for a in project_assets(("sampled_cohort", "contractor_handoff"))
                  if "cohort_expectations" not in {k.name for k in getattr(a, "check_keys", ())}]
        result = materialize(assets, resources=resources,
                             instance=instance, partition_key="2025-04-01", raise_on_error=False)
        assert not result.success
        # The hand-off did not run: nothing left for the contractor, nothing logged as handed off.
        assert "contractor_handoff" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert not outbox.exists() or not any(outbox.iterdir())
        # The run says which check stopped it, and the check's result says why.
        failure = result.get_step_failure_events()[0]
        assert failure.step_key == "sampled_cohort_no_opted_out_or_recently_surveyed"
        assert "blocking asset check failed" in failure.step_failure_data.error.message
        assert "sampled_cohort: no_opted_out_or_recently_surveyed" in failure.step_failure_data.error.message
        evaluation = next(e for e in result.get_asset_check_evaluations()
                          if e.check_name == "no_opted_out_or_recently_surveyed")
        assert not evaluation.passed and evaluation.metadata
        logged = [r.user_message for r in instance.all_logs(result.run_id)]
        assert ("Dependencies for step contractor_handoff failed: "
                "['sampled_cohort_no_opted_out_or_recently_surveyed']. Not executing.") in logged
        run_failure_email_sensor(_failure_context(instance, result))

    body = _body(smtp_inbox.messages[0][1])
    assert "Failed step: sampled_cohort_no_opted_out_or_recently_surveyed" in body
    assert [line for line in body.splitlines() if line.startswith("Not built:")] == ["Not built:  contractor_handoff"]
    assert "blocking asset check failed with ERROR severity: sampled_cohort: no_opted_out_or_recently_surveyed" in body
    assert "Failed check: sampled_cohort: no_opted_out_or_recently_surveyed (2025-04-01) [ERROR]" in body
    with __import__("duckdb").connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM ops.handoff_log").fetchone()[0] == 0


def test_without_smtp_settings_the_sensors_skip_and_say_so(monkeypatch):
    for name in ("VSAT_SMTP_HOST", "VSAT_SMTP_FROM", "VSAT_ALERT_TO"):
        monkeypatch.delenv(name, raising=False)
    with DagsterInstance.ephemeral() as instance:
        result = _failed_run(instance, "boom")
        skipped = run_failure_email_sensor(_failure_context(instance, result))
        overdue = overdue_email_sensor(build_sensor_context(instance=instance))
    for outcome in (skipped, overdue):
        assert isinstance(outcome, SkipReason)
        assert "alerts are not configured (VSAT_SMTP_HOST, VSAT_SMTP_FROM, VSAT_ALERT_TO unset)" in outcome.skip_message


def test_an_unreachable_smtp_server_fails_the_tick_with_a_clear_error(monkeypatch):
    port = _free_port()  # nothing listens there
    for name, value in {"VSAT_SMTP_HOST": "127.0.0.1", "VSAT_SMTP_PORT": str(port),
                        "VSAT_SMTP_FROM": "vsat@force.example", "VSAT_ALERT_TO": "data-team@force.example"}.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.ephemeral() as instance:
        result = _failed_run(instance, "boom")
        with pytest.raises(mail.AlertNotSent, match=f"alert mail not sent through 127.0.0.1:{port}"):
            run_failure_email_sensor(_failure_context(instance, result))


# ------------------------------------------------------------------------------ overdue
def _overdue_defs(resources: dict) -> Definitions:
    from vsat_assets.definitions import defs

    return Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[overdue_checks_job],
                       resources=resources)


def _as_of(day: str) -> dict:
    config = {"config": {"as_of": day}}
    return {"ops": {"handoff_deliveries_handoffs_sent_by_handoff_day": config,
                    "contractor_returns_returns_back_in_time": config}}


def _annual_tables_built(instance: DagsterInstance, year_start: str) -> None:
    """Record the annual tables of the financial year starting `year_start` as built, as the annual run does."""
    for table in ANNUAL_TABLES:
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(table), partition=year_start))


class Overdue:
    """The overdue job and the mail sensor on one ephemeral instance, as schedule and daemon run them."""

    def __init__(self, instance: DagsterInstance, resources: dict):
        self.instance, self.job = instance, _overdue_defs(resources).resolve_job_def("overdue_checks_job")
        self.cursor = None

    def check(self, day: str) -> dict[str, bool]:
        result = self.job.execute_in_process(instance=self.instance, run_config=_as_of(day))
        assert result.success
        return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}

    def tick(self):
        context = build_sensor_context(instance=self.instance, cursor=self.cursor)
        outcome = overdue_email_sensor(context)
        self.cursor = context.cursor
        return outcome


def _log_handoff(conn, month: date, rows: int = 5, sent_at: datetime | None = None) -> None:
    conn.execute("""INSERT INTO ops.handoff_log (sampling_month, file, rows, sha256, layout_version, written_at, sent_at)
                    VALUES (?, ?, ?, 'abc', 1, ?, ?)""", [month, f"handoff_{month:%Y-%m}.csv", rows, sent_at or month, sent_at])


@pytest.fixture
def ops_warehouse(tmp_path, resources):
    """The ops tables of the `resources` fixture's warehouse, and a connection to fill them."""
    import duckdb

    path = Path(resources["warehouse"].database)
    conn = duckdb.connect(str(path))
    ensure_schemas(conn)
    yield path, conn
    conn.close()


def test_a_handoff_not_sent_by_its_handoff_day_is_mailed_and_not_before(smtp_inbox, ops_warehouse, resources):
    from vsat_assets.defs.handoff.__main__ import mark_sent

    path, conn = ops_warehouse
    _log_handoff(conn, date(2025, 4, 1), sent_at=datetime(2025, 5, 1, 6))
    _log_handoff(conn, date(2025, 5, 1))  # written for review (mark_sent_on_write off), not yet sent
    conn.close()
    with DagsterInstance.ephemeral() as instance:
        _annual_tables_built(instance, "2025-04-01")  # only the hand-off is late
        overdue = Overdue(instance, resources)
        # May's hand-off day is 1 June: on that day it is not overdue yet; June's is not due at all.
        assert overdue.check("2025-06-01")["handoff_deliveries:handoffs_sent_by_handoff_day"] is True
        assert isinstance(overdue.tick(), SkipReason) and smtp_inbox.messages == []

        assert overdue.check("2025-06-02")["handoff_deliveries:handoffs_sent_by_handoff_day"] is False
        overdue.tick()
        assert len(smtp_inbox.messages) == 1
        message = smtp_inbox.messages[0][1]
        assert message["Subject"] == "[VSAT] overdue: handoff_deliveries"
        assert ("handoff_deliveries / handoffs_sent_by_handoff_day: hand-off not sent by its hand-off day: "
                "2025-05 (due 2025-06-01)") in _body(message)
        overdue.tick()  # the same failed result is mailed once
        assert len(smtp_inbox.messages) == 1

        # The operator records it as sent (`handoff sent 2025-05`): the next check passes, no mail.
        import duckdb
        with duckdb.connect(str(path)) as conn:
            assert mark_sent(conn, date(2025, 5, 1))[0] is None
        assert overdue.check("2025-06-03")["handoff_deliveries:handoffs_sent_by_handoff_day"] is True
        overdue.tick()
        assert len(smtp_inbox.messages) == 1


def test_a_month_never_handed_off_is_overdue_too(ops_warehouse):
    from vsat_assets.alerts.overdue import unsent_handoffs

    _, conn = ops_warehouse
    _log_handoff(conn, date(2025, 4, 1), sent_at=datetime(2025, 5, 1, 6))  # May's run failed: no hand-off at all
    assert unsent_handoffs(conn, date(2025, 6, 1), handoff_day=1) == []
    assert unsent_handoffs(conn, date(2025, 6, 2), handoff_day=1) == [(date(2025, 5, 1), date(2025, 6, 1))]
    assert unsent_handoffs(conn, date(2025, 6, 2), handoff_day=3) == []  # hand-off day 3 June: not yet


def test_returns_not_back_n_weeks_after_sending_are_mailed_and_not_before(smtp_inbox, ops_warehouse, resources,
                                                                          monkeypatch):
    from vsat_assets.defs.responses.assets import prepare_tables

    monkeypatch.setenv("VSAT_RETURNS_DUE_WEEKS", "10")
    path, conn = ops_warehouse
    _log_handoff(conn, date(2025, 4, 1), sent_at=datetime(2025, 5, 1, 6))
    _log_handoff(conn, date(2025, 5, 1), sent_at=datetime(2025, 6, 1, 6))
    for month in (6, 7, 8):  # nobody to call in these: no returns due (and their hand-offs are on time)
        _log_handoff(conn, date(2025, month, 1), rows=0, sent_at=datetime(2025, month + 1, 1, 6))
    prepare_tables(conn)
    conn.execute("INSERT INTO staging.survey_responses (sampling_month, survey_id, outcome) "
                 "VALUES ('2025-04-01', 'S1', 'COMPLETE')")  # April's returns are back
    conn.close()
    with DagsterInstance.ephemeral() as instance:
        _annual_tables_built(instance, "2025-04-01")  # only the returns are late
        overdue = Overdue(instance, resources)
        # May was sent on 1 June: ten weeks later is 10 August.
        assert overdue.check("2025-08-09")["contractor_returns:returns_back_in_time"] is True
        overdue.tick()
        assert smtp_inbox.messages == []

        assert overdue.check("2025-09-15")["contractor_returns:returns_back_in_time"] is False
        overdue.tick()
        body = _body(smtp_inbox.messages[0][1])
        assert "contractor_returns / returns_back_in_time: returns not back 10 weeks after sending: " \
               "2025-05 (sent 2025-06-01)" in body
        assert "2025-04" not in body.split("returns not back")[1] and "2025-06" not in body.split("sending:")[1].split("(")[0]

        # The file arrives and every row is quarantined: the returns are back all the same.
        import duckdb
        with duckdb.connect(str(path)) as conn:
            conn.execute("INSERT INTO ops.returns_quarantine VALUES ('2025-05-01', 'returns_2025-05.csv', 1, 'S9', "
                         "'outcome', 'unknown outcome')")
        assert overdue.check("2025-09-16")["contractor_returns:returns_back_in_time"] is True


def test_annual_tables_not_built_by_the_due_date_are_mailed_and_not_before(smtp_inbox, resources):
    path = Path(resources["warehouse"].database)  # no warehouse at all: the warehouse checks pass, none is created
    with DagsterInstance.ephemeral() as instance:
        _annual_tables_built(instance, "2024-04-01")
        overdue = Overdue(instance, resources)
        with freeze_time(datetime.fromisoformat("2026-04-29T12:00:00+01:00")):  # 2025/26 due on 30 April
            checks = overdue.check("2026-04-29")
            assert [checks[f"{t}:freshness_check"] for t in ANNUAL_TABLES] == [True] * 4
            overdue.tick()
        assert smtp_inbox.messages == []
        assert not path.exists()

        with freeze_time(datetime.fromisoformat("2026-04-30T09:30:00+01:00")):
            checks = overdue.check("2026-04-30")
            assert [checks[f"{t}:freshness_check"] for t in ANNUAL_TABLES] == [False] * 4
            overdue.tick()
        message = smtp_inbox.messages[0][1]
        assert message["Subject"] == "[VSAT] overdue: annual_report, hmicfrs_export, satisfaction_annual, satisfaction_gap"
        assert ("satisfaction_annual / freshness_check: Asset is overdue. We expected partition 2025-04-01 to have "
                "arrived, and it has not.") in _body(message)

        _annual_tables_built(instance, "2025-04-01")  # the annual run builds 2025/26
        with freeze_time(datetime.fromisoformat("2026-05-01T09:30:00+01:00")):
            checks = overdue.check("2026-05-01")
            assert all(checks[f"{t}:freshness_check"] for t in ANNUAL_TABLES)
            overdue.tick()
        assert len(smtp_inbox.messages) == 1


def test_the_due_settings_are_read_from_the_environment(monkeypatch):
    from vsat_assets.alerts.overdue import annual_tables_deadline_cron, returns_due_weeks

    monkeypatch.delenv("VSAT_RETURNS_DUE_WEEKS", raising=False)
    monkeypatch.delenv("VSAT_ANNUAL_TABLES_DUE", raising=False)
    assert (returns_due_weeks(), annual_tables_deadline_cron()) == (14, "0 9 30 4 *")
    monkeypatch.setenv("VSAT_RETURNS_DUE_WEEKS", "6")
    monkeypatch.setenv("VSAT_ANNUAL_TABLES_DUE", "06-15")
    assert (returns_due_weeks(), annual_tables_deadline_cron()) == (6, "0 9 15 6 *")
    monkeypatch.setenv("VSAT_RETURNS_DUE_WEEKS", "six")
    with pytest.raises(ValueError, match="VSAT_RETURNS_DUE_WEEKS='six' is not a whole number of weeks"):
        returns_due_weeks()
    monkeypatch.setenv("VSAT_ANNUAL_TABLES_DUE", "31-04")
    with pytest.raises(ValueError, match=r"VSAT_ANNUAL_TABLES_DUE='31-04' is not a day of the year \(MM-DD\)"):
        annual_tables_deadline_cron()


# ------------------------------------------------------------------ blocking before the publish
@pytest.mark.parametrize("planted", [False, True], ids=["clean", "small-cells-published"])
def test_a_failed_disclosure_check_stops_the_analysts_file(planted, smtp_inbox, resources, materialize_vsat,
                                                           dagster_instance, tmp_path, monkeypatch):
    from vsat_assets.defs.annual.config import AnnualSettings
    from vsat_assets.defs.annual.tables import Thresholds
    from vsat_assets.defs.publish.assets import analytics_path
    from vsat_tests.test_yearly_lineage import YEAR_2024, _add_responses, _build_responses

    monkeypatch.setenv("VSAT_DATA_DIR", str(tmp_path / "data"))
    # 8 interviews a question, all in one area and strand: every cell rests on 8 answers, under 10: suppressed.
    _add_responses(resources["warehouse"], date(2024, 6, 1), [1] * 5 + [5] * 3)
    _build_responses(materialize_vsat, resources, partition="2024-06-01")
    if planted:  # a fault in the tables' disclosure control: nothing suppressed
        monkeypatch.setattr(AnnualSettings, "thresholds", lambda self: Thresholds(self.low_base_threshold, 1))

    result = materialize_vsat(resources, partition=YEAR_2024, selection=["satisfaction_annual", "analytics_file"])

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()
                   if e.asset_key.to_user_string() == "satisfaction_annual"}
    if not planted:
        assert result.success and evaluations["no_small_published_cells"].passed
        assert analytics_path().exists()
        return
    assert not result.success
    assert not analytics_path().exists()  # not published
    assert "analytics_file" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    small = evaluations["no_small_published_cells"]
    assert not small.passed and small.metadata["failing_rows"].value > 0  # why: rows published under the threshold
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "satisfaction_annual_no_small_published_cells"
    assert "satisfaction_annual: no_small_published_cells" in failure.step_failure_data.error.message

    run_failure_email_sensor(_failure_context(dagster_instance, result))
    body = _body(smtp_inbox.messages[0][1])
    assert "Failed step: satisfaction_annual_no_small_published_cells" in body
    assert "Failed check: satisfaction_annual: no_small_published_cells [ERROR]" in body
    assert "Not built:  analytics_file" in body
