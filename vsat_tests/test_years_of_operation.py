"""Two years of operation, run the way a force runs it, against a clean in-order run.

The world's timeline is the same for both sites: each month's build on the 1st (the monthly
schedule's own run request), the contractor stand-in's returns delivered every quarter and
ingested through the sensor's own run requests, an emailed opt-out between two months, and
the annual schedule's run once a year's last returns are in (5 April comes before them; a
year's late returns would otherwise be left unweighted). Two financial years are enough for
every property below: the 12-month no-recontact window and the opt-outs cross the year end,
and the second year's tables are compared with the first's (docs/test_speed.md). The clean site builds each quarter's
months in order, one range run each (a range run equals the months one by one:
test_backfills_and_concurrency).
The operated site builds month by month through the schedule and meets, on the way:

- a backfill of a range (three sent months and three new ones, one run);
- an earlier month built after a later one (the later one is refused, naming the missing month);
- two months launched at once, each in its own process;
- a process killed with SIGKILL in the middle of sampling_frame's write, then re-run;
- re-runs of sent months.

Afterwards nobody is in two hand-offs within 12 months, no opted-out person is in a hand-off
made after the opt-out was recorded, and every mart equals the clean site's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from dagster import DagsterInstance, RunRequest, build_schedule_context, build_sensor_context

from vsat_assets import settings
from vsat_assets.contractor_sim import simulate_returns
from vsat_assets.contractor_sim.simulate import returns_path_for
from vsat_assets.partitions import months_in, next_month
from vsat_assets.privacy import normalise_uk_phone
from vsat_assets.resources import SurveySettings
from vsat_assets.defs.sampling.opt_outs import record_direct_request
from vsat_assets.partitions import TIMEZONE
from vsat_assets.defs.annual.schedules import annual_satisfaction_schedule
from vsat_assets.defs.handoff.schedules import monthly_survey_schedule
from vsat_assets.defs.responses.sensors import contractor_returns_sensor
from vsat_tests.conftest import SMALL_SCALE
from vsat_tests.operation import run_job, site_definitions, site_resources

PROJECT = Path(__file__).resolve().parents[1]
LONDON = ZoneInfo(TIMEZONE)
MONTHS = list(months_in(date(2023, 4, 1), date(2025, 4, 1)))   # 2023/24 and 2024/25
OPT_OUT_BEFORE = date(2024, 1, 1)          # the emailed opt-out arrives before this month is built
BACKFILLED = (date(2024, 4, 1), date(2024, 9, 1))   # one range run: three sent months, three new
FIRST_NEW_IN_BACKFILL = date(2024, 7, 1)
OUT_OF_ORDER = date(2024, 11, 1)           # launched before 2024-10: refused
TOGETHER = (date(2025, 2, 1), date(2025, 3, 1))     # launched at once, two processes
KILLED = date(2024, 12, 1)                 # SIGKILL in the middle of sampling_frame's write
RERUN_SENT = (date(2023, 6, 1), date(2024, 2, 1))   # re-run after RERUNS_AFTER is built
RERUNS_AFTER = date(2025, 1, 1)


def key(month: date) -> str:
    return month.isoformat()


class Site:
    """A data folder, its resources and code location, an instance, and the sensor's cursor."""

    def __init__(self, data_dir: Path, monkeypatch):
        self.data_dir = data_dir
        data_dir.mkdir()
        self.resources = site_resources(data_dir, SMALL_SCALE)
        self.defs = site_definitions(self.resources)
        self.instance = DagsterInstance.ephemeral()
        self.cursor: str | None = None
        self.monkeypatch = monkeypatch
        self.activate()

    def activate(self) -> None:
        # analytics_file publishes into VSAT_DATA_DIR.
        self.monkeypatch.setenv("VSAT_DATA_DIR", str(self.data_dir))

    def run(self, job: str, partition: str | None = None, partition_range=None, must_succeed: bool = True):
        result = run_job(self.defs, self.instance, job, partition, partition_range)
        if must_succeed:
            assert result.success, (job, partition, partition_range, failure_text(result))
        return result

    def monthly_tick(self, month: date):
        """What the monthly schedule launches on the 1st of the month after `month`."""
        tick = next_month(month)
        request = monthly_survey_schedule(build_schedule_context(
            scheduled_execution_time=datetime(tick.year, tick.month, 1, 6, 0, tzinfo=LONDON)))
        assert isinstance(request, RunRequest) and request.partition_key == key(month)
        return request.partition_key

    def annual_tick(self, year_start: int) -> None:
        request = annual_satisfaction_schedule(build_schedule_context(
            scheduled_execution_time=datetime(year_start + 1, 4, 5, 7, 0, tzinfo=LONDON)))
        self.run("annual_satisfaction_job", request.partition_key)

    def contractor_delivers(self, ranged: bool) -> None:
        """The stand-in answers every hand-off not yet answered; the sensor picks the files up."""
        outbox, inbox = self.data_dir / "outbox", self.data_dir / "inbox"
        for handoff in sorted(outbox.glob("handoff_*.csv")):
            if not returns_path_for(handoff, inbox).exists():
                simulate_returns(handoff, inbox)
        context = build_sensor_context(cursor=self.cursor, resources={
            name: self.resources[name] for name in ("contractor_inbox", "contractor_sftp")})
        result = contractor_returns_sensor(context)
        self.cursor = context.cursor
        partitions = sorted(r.partition_key for r in (result if isinstance(result, list) else []))
        if ranged and partitions:
            self.run("survey_responses_job", partition_range=(partitions[0], partitions[-1]))
        else:
            for partition in partitions:
                self.run("survey_responses_job", partition)

    def opt_out(self, surname: str, phone: str) -> None:
        with self.resources["warehouse"].get_connection() as conn:
            record_direct_request(conn, settings.pseudonym_key()[0], surname=surname, phone=phone,
                                  received_on=OPT_OUT_BEFORE, reference="EMAIL-YEARS")

    def query(self, sql: str, params=None) -> list[tuple]:
        with duckdb.connect(str(self.data_dir / "vsat.duckdb"), read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def close(self) -> None:
        self.instance.dispose()


def failure_text(result) -> str:
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None:
                messages.append(error.message)
                error = error.cause
    return "\n".join(messages)


def quarters() -> list[list[date]]:
    """The months between two deliveries of returns (before January, April, July, October)."""
    groups: list[list[date]] = []
    for month in MONTHS:
        if month.month % 3 == 1 or not groups:
            groups.append([])
        groups[-1].append(month)
    return groups


def before_quarter(site: Site, quarter: list[date], ranged: bool, opt_out: tuple[str, str] | None) -> None:
    if quarter[0] != MONTHS[0]:
        site.contractor_delivers(ranged)
        if quarter[0].month == 4:
            # The annual schedule, once the year's last returns are in.
            site.annual_tick(quarter[0].year - 1)
    if quarter[0] == OPT_OUT_BEFORE:
        site.opt_out(*opt_out)


def pick_opt_out(site: Site) -> tuple[str, str]:
    """An eligible victim's surname and phone, among those whose phone comes back most often in
    the next year's reports (the generator is deterministic; the drama range is small)."""
    later: Counter = Counter()
    source, areas = site.resources["report_source"], tuple(SurveySettings().policing_areas)
    for month in months_in(OPT_OUT_BEFORE, date(OPT_OUT_BEFORE.year + 1, 1, 1)):
        for frame in source.frames(month, areas):
            later.update(normalise_uk_phone(phone) for phone in frame["victim_phone"].to_list() if phone)
    candidates = site.query(
        """SELECT s.victim_surname, s.phone_normalised FROM staging.stg_reports s
           JOIN intermediate.eligible_victims e USING (crime_reference, victim_person_id)""")
    surname, phone = max(candidates, key=lambda c: (later[c[1]], c))
    assert later[phone] > 1, "no eligible victim's phone comes back in the next year"
    return surname, phone


def build_clean(site: Site) -> tuple[str, str]:
    opt_out = None
    for quarter in quarters():
        if quarter[0] == OPT_OUT_BEFORE:
            opt_out = pick_opt_out(site)
        before_quarter(site, quarter, ranged=True, opt_out=opt_out)
        site.run("monthly_survey_job", partition_range=(key(quarter[0]), key(quarter[-1])))
    site.contractor_delivers(ranged=True)
    site.annual_tick(MONTHS[-1].year - 1)
    return opt_out


def launch(site: Site, month: date, log: Path, stop_in_write: str | None = None) -> subprocess.Popen:
    command = [sys.executable, str(PROJECT / "vsat_tests" / "operation.py"), str(site.data_dir), key(month),
               str(SMALL_SCALE)]
    if stop_in_write:
        command += ["--stop-in-write", stop_in_write]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=PROJECT, env=dict(os.environ), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 300) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"{process.args} still running after {timeout} s")


def previous(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def operate(site: Site, opt_out: tuple[str, str], tmp_path: Path) -> dict:
    seen = {}
    for quarter in quarters():
        before_quarter(site, quarter, ranged=False, opt_out=opt_out)
        for month in quarter:
            if FIRST_NEW_IN_BACKFILL < month <= BACKFILLED[1]:
                continue
            if month == FIRST_NEW_IN_BACKFILL:
                site.run("monthly_survey_job", partition_range=(key(BACKFILLED[0]), key(BACKFILLED[1])))
                continue
            if month == previous(OUT_OF_ORDER):
                refused = site.run("monthly_survey_job", site.monthly_tick(OUT_OF_ORDER), must_succeed=False)
                seen["refused"] = failure_text(refused)
                assert not refused.success
            if month == TOGETHER[0]:
                logs = [tmp_path / f"together_{m:%Y-%m}.log" for m in TOGETHER]
                processes = [launch(site, m, log) for m, log in zip(TOGETHER, logs)]
                codes = [finish(p) for p in processes]
                seen["together"] = [(code, log.read_text(errors="replace")) for code, log in zip(codes, logs)]
                for m, code in zip(TOGETHER, codes):
                    if code != 0:
                        site.run("monthly_survey_job", site.monthly_tick(m))
                continue
            if month == TOGETHER[1]:
                continue
            if month == KILLED:
                process = launch(site, month, tmp_path / "killed.log", stop_in_write="sampling_frame")
                deadline = time.monotonic() + 240
                while not (site.data_dir / "in_write").exists():
                    assert process.poll() is None, (tmp_path / "killed.log").read_text(errors="replace")[-4000:]
                    assert time.monotonic() < deadline, "the run never reached sampling_frame's write"
                    time.sleep(0.2)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                seen["killed_left_rows"] = site.query(
                    "SELECT count(*) FROM intermediate.sampling_frame WHERE report_month = ?", [month])[0][0]
            site.run("monthly_survey_job", site.monthly_tick(month))
            if month == RERUNS_AFTER:
                for sent in RERUN_SENT:
                    rerun = site.run("monthly_survey_job", key(sent))
                    logged = "\n".join(str(r.user_message) for r in site.instance.all_logs(rerun.run_id))
                    seen.setdefault("reruns", []).append((sent, logged))
    site.contractor_delivers(ranged=False)
    site.annual_tick(MONTHS[-1].year - 1)
    return seen


def figures(rows: list[tuple]) -> list[tuple]:
    """Rows with doubles to 9 decimals: sums over the same responses in another order differ
    in the last bits."""
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def tables(site: Site, schema: str) -> list[str]:
    return [name for (name,) in site.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema])]


@pytest.mark.slow
def test_two_years_of_operation_give_the_same_lawful_result_as_a_clean_in_order_run(tmp_path, monkeypatch):
    clean = Site(tmp_path / "clean", monkeypatch)
    try:
        opt_out = build_clean(clean)
    finally:
        clean.close()

    site = Site(tmp_path / "operated", monkeypatch)
    try:
        seen = operate(site, opt_out, tmp_path)
    finally:
        site.close()

    # The disturbances happened as intended.
    assert f"sampling_frame {OUT_OF_ORDER:%Y-%m}: refused, the month before it ({previous(OUT_OF_ORDER):%Y-%m})" \
        in seen["refused"]
    for code, output in seen["together"]:
        assert code == 0 or "refused, the month before it" in output, output[-4000:]
    assert seen["killed_left_rows"] == 0
    for sent, logged in seen["reruns"]:
        assert f"{sent:%Y-%m} is settled (sent " in logged and "kept as sent" in logged

    # Nobody is in two hand-offs within 12 months.
    twice = site.query(
        """SELECT a.person_key, a.sampling_month, b.sampling_month FROM ops.contact_history a
           JOIN ops.contact_history b ON a.person_key = b.person_key AND a.sampling_month < b.sampling_month
            AND b.sampling_month <= a.sampling_month + INTERVAL 12 MONTH""")
    assert twice == []
    assert site.query("SELECT count(DISTINCT sampling_month) FROM ops.contact_history")[0][0] == len(MONTHS)

    # No opted-out person is in a hand-off made after the opt-out was recorded.
    late = site.query(
        """SELECT c.survey_id, r.channel FROM intermediate.sampled_cohort c
           JOIN ops.handoff_log l USING (sampling_month)
           JOIN ops.opt_out_register r ON r.person_key = c.person_key OR r.phone_key = c.phone_key
           WHERE l.sent_at > r.recorded_at""")
    assert late == []
    channels = dict(site.query("SELECT channel, count(*) FROM ops.opt_out_register GROUP BY ALL"))
    assert channels.get("EMAIL") and channels.get("CONTRACTOR_RETURNS"), channels
    # The emailed opt-out kept someone out of a later month (so the check above is not empty).
    assert site.query(
        """SELECT count(*) FROM intermediate.victim_eligibility v
           JOIN ops.opt_out_register r ON r.phone_key = v.phone_key AND r.channel = 'EMAIL'
           WHERE v.exclusion_reason = 'OPTED_OUT' AND v.report_month >= ?""", [OPT_OUT_BEFORE])[0][0] > 0

    # Both financial years were built by the annual schedule, the second compared with the first.
    assert site.query(
        """SELECT financial_year, count(change_vs_previous_pp) > 0 FROM marts.satisfaction_annual
           GROUP BY ALL ORDER BY 1""") == [("2023/24", False), ("2024/25", True)]

    # Every mart, the cohort and the contact history equal the clean site's.
    assert tables(site, "marts") == tables(clean, "marts")
    compared = [f"marts.{name}" for name in tables(clean, "marts")]
    compared += ["intermediate.sampled_cohort", "intermediate.sampling_frame"]
    for table in compared:
        operated_rows = figures(site.query(f"SELECT * FROM {table} ORDER BY ALL"))
        clean_rows = figures(clean.query(f"SELECT * FROM {table} ORDER BY ALL"))
        assert operated_rows, f"{table} is empty"
        assert operated_rows == clean_rows, f"{table} differs from the clean in-order run"
    history = "SELECT person_key, survey_id, sampling_month FROM ops.contact_history ORDER BY ALL"
    assert site.query(history) == clean.query(history)
