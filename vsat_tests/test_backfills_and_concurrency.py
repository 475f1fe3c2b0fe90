"""Backfills, runs launched together, and analysts reading the published file during a run.

- a three-month backfill in ONE run (the partition-range tags, as `make demo` launches it)
  leaves the same rows as the three months materialised one after another;
- two `dagster asset materialize` processes started together on the same warehouse both
  succeed: the writer lock (warehouse.writer_lock) makes them wait for each other;
- an analyst's open read-only connection on vsat_analytics.duckdb keeps answering while a
  full monthly run publishes a new copy, and a new connection then sees the new month;
- the published file holds no personal data and documents every column.

The subprocess tests set VSAT_DATA_DIR and DAGSTER_HOME to temp folders; the generator's
scale is resource config, passed as run config (`resources: report_source: config: scale`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import AssetKey, AssetSelection, TimeWindowPartitionMapping

from vsat_assets.defs.handoff.assets import HandoffSettings
from vsat_assets.defs.handoff.jobs import SAMPLING_CHAIN_TAG, monthly_survey_job
from vsat_assets.warehouse import writer_lock
from vsat_tests.conftest import SMALL_SCALE

PROJECT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"
BACKFILL_MONTHS = ("2025-04-01", "2025-05-01", "2025-06-01")
SCALE_CONFIG = {"resources": {"report_source": {"config": {"scale": SMALL_SCALE}}}}
WAITING_NOTE = "waiting for another run to finish writing"

# Column-name fragments that would mean personal data in the analysts' file.
PERSONAL_FRAGMENTS = (
    "forename", "surname", "first_name", "last_name", "phone", "date_of_birth", "dob", "birth",
    "crime_reference", "crime_ref", "person_id", "address", "postcode", "email", "title",
)

# The tables a backfill must leave exactly as month-by-month runs do, and their row order-free query.
COMPARED_TABLES = {
    "raw.reports": "SELECT * FROM raw.reports",
    "intermediate.victim_eligibility": "SELECT * FROM intermediate.victim_eligibility",
    "intermediate.sampling_frame": "SELECT * FROM intermediate.sampling_frame",
    "intermediate.sampled_cohort": "SELECT * FROM intermediate.sampled_cohort",
    "ops.contact_history": "SELECT * EXCLUDE (recorded_at) FROM ops.contact_history",
    "marts.exclusion_audit": "SELECT * FROM marts.exclusion_audit",
}


def _defs():
    from vsat_assets.definitions import defs

    return defs


def _monthly_job_keys() -> list[AssetKey]:
    """The assets of monthly_survey_job, as the schedule runs them."""
    keys = monthly_survey_job.selection.resolve(_defs().resolve_asset_graph())
    assert AssetKey("raw_reports") in keys and AssetKey("analytics_file") in keys
    return sorted(keys, key=lambda k: k.to_user_string())


def _data_env(tmp_path: Path, home_name: str) -> dict:
    """os.environ with VSAT_DATA_DIR=<tmp>/data and its own DAGSTER_HOME (with an empty dagster.yaml)."""
    home = tmp_path / home_name
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("")
    (tmp_path / "data").mkdir(exist_ok=True)
    env = dict(os.environ, VSAT_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(home))
    for name in ("VSAT_DROP_DIR", "VSAT_REPORT_SOURCE", "VSAT_PSEUDONYM_KEY"):
        env.pop(name, None)
    env["VSAT_PROFILE"] = "demo"
    return env


def _start(cmd: list, env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(c) for c in cmd], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _finish(process: subprocess.Popen, log: Path, timeout: float = 240) -> str:
    """Wait for the process (killing its group on timeout); its output."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
        pytest.fail(f"{process.args} still running after {timeout} s:\n{log.read_text(errors='replace')[-4000:]}")
    return log.read_text(errors="replace")


def _kill_if_running(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
        process.wait()


# ------------------------------------------------------------------------ backfill
@pytest.mark.slow
def test_a_three_month_backfill_in_one_run_equals_three_monthly_runs(
    tmp_path, monkeypatch, make_resources, materialize_vsat, warehouse_rows, failure_messages
):
    # analytics_file publishes into VSAT_DATA_DIR, which must exist (it is not the warehouses' folder here).
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("VSAT_DATA_DIR", str(tmp_path / "data"))
    keys = _monthly_job_keys()

    backfill = make_resources(warehouse="backfill.duckdb")
    backfill["handoff"] = HandoffSettings(outbox=str(tmp_path / "outbox_backfill"))
    result = materialize_vsat(backfill, partition_range=(BACKFILL_MONTHS[0], BACKFILL_MONTHS[-1]), selection=keys)
    assert result.success, failure_messages(result)

    monthly = make_resources(warehouse="monthly.duckdb")
    monthly["handoff"] = HandoffSettings(outbox=str(tmp_path / "outbox_monthly"))
    for month in BACKFILL_MONTHS:
        result = materialize_vsat(monthly, partition=month, selection=keys)
        assert result.success, (month, failure_messages(result))

    for table, sql in COMPARED_TABLES.items():
        by_range = warehouse_rows(backfill["warehouse"], sql)
        by_month = warehouse_rows(monthly["warehouse"], sql)
        assert by_range, f"{table} is empty after the backfill"
        assert len(by_range) == len(by_month), f"{table}: {len(by_range)} rows by range, {len(by_month)} by month"
        assert by_range == by_month, f"{table} differs between the backfill and the monthly runs"

    # Every month of the range is there, and the cohort is spread over all three.
    months = warehouse_rows(
        backfill["warehouse"], "SELECT DISTINCT strftime(sampling_month, '%Y-%m-01') FROM intermediate.sampled_cohort")
    assert [m[0] for m in months] == list(BACKFILL_MONTHS)
    reported = warehouse_rows(
        backfill["warehouse"], "SELECT DISTINCT strftime(date_trunc('month', report_date), '%Y-%m-01') FROM raw.reports")
    assert [m[0] for m in reported] == list(BACKFILL_MONTHS)

    # The contractor gets the same files either way.
    for month in BACKFILL_MONTHS:
        name = f"handoff_{month[:7]}.csv"
        by_range = (tmp_path / "outbox_backfill" / name).read_bytes()
        assert by_range == (tmp_path / "outbox_monthly" / name).read_bytes(), name


# -------------------------------------------------------------------- months in order
def test_each_month_of_sampling_frame_depends_on_the_month_before():
    """The self-dependency that makes Dagster's asset backfills run the months in order and
    shows a month whose predecessor is missing; the first partition has none."""
    graph = _defs().resolve_asset_graph()
    frame = AssetKey("sampling_frame")
    assert frame in graph.get(frame).parent_keys
    mapping = graph.get_partition_mapping(frame, frame)
    assert isinstance(mapping, TimeWindowPartitionMapping)
    partitions = graph.get(frame).partitions_def
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        partitions.empty_subset().with_partition_keys(["2025-05-01"]), partitions, partitions)
    assert list(upstream.partitions_subset.get_partition_keys()) == ["2025-04-01"]
    first = partitions.get_first_partition_key()
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        partitions.empty_subset().with_partition_keys([first]), partitions, partitions)
    assert list(upstream.partitions_subset.get_partition_keys()) == []


FRAME_ONLY = ("offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility", "eligible_victims",
              "sampling_frame")


def test_a_month_whose_previous_month_is_missing_fails_its_run_naming_that_month(
    resources, materialize_vsat, failure_messages, run_log_text
):
    assert materialize_vsat(resources, partition="2025-04-01", selection=FRAME_ONLY).success
    refused = materialize_vsat(resources, partition="2025-06-01", selection=FRAME_ONLY)
    assert not refused.success
    assert any("sampling_frame 2025-06: refused, the month before it (2025-05)" in m
               for m in failure_messages(refused)), failure_messages(refused)
    # An earlier month built after later ones: allowed at the start of the chain, and the log
    # names the later months it leaves stale.
    assert materialize_vsat(resources, partition="2025-05-01", selection=FRAME_ONLY).success
    assert materialize_vsat(resources, partition="2025-06-01", selection=FRAME_ONLY).success
    earlier = materialize_vsat(resources, partition="2025-03-01", selection=FRAME_ONLY)
    assert earlier.success
    assert "2025-04, 2025-05, 2025-06 were built before 2025-03 and are now stale" in run_log_text(earlier)


@pytest.mark.parametrize("profile", ["deploy/dagster.local.yaml", "deploy/dagster.yaml"])
def test_instance_profiles_start_the_monthly_jobs_runs_one_at_a_time(profile):
    """A `dagster job backfill` queues one run per month, in order; the queue starts the runs
    carrying the monthly job's tag one at a time, first queued first."""
    doc = yaml.safe_load((PROJECT / profile).read_text(encoding="utf-8"))
    limits = doc["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": SAMPLING_CHAIN_TAG, "limit": 1} in limits
    assert SAMPLING_CHAIN_TAG in monthly_survey_job.tags


def test_the_local_instance_reads_the_limit_the_daemon_applies(tmp_path):
    from dagster import DagsterInstance

    (tmp_path / "dagster.yaml").write_text((PROJECT / "deploy" / "dagster.local.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": SAMPLING_CHAIN_TAG, "limit": 1} in limits


def test_a_connection_inside_another_of_the_same_file_is_that_one_and_other_threads_wait(tmp_path: Path):
    # A check over 12 months opens the warehouse once: each month's get_connection is the step's.
    import threading

    from vsat_assets.warehouse import WarehouseResource

    warehouse = WarehouseResource(database=str(tmp_path / "vsat.duckdb"))
    other_thread: list = []

    def open_in_another_thread():
        with warehouse.get_connection() as conn:
            other_thread.append(conn.execute("SELECT count(*) FROM t").fetchone()[0])

    with warehouse.get_connection() as outer:
        outer.execute("CREATE TABLE t AS SELECT 1 AS x")
        with warehouse.get_connection() as inner:  # no wait for the lock this thread holds
            assert inner is outer
        (tmp_path / "sub").mkdir()
        same_file = WarehouseResource(database=str(tmp_path / "sub" / ".." / "vsat.duckdb"))
        with same_file.get_connection() as spelt_otherwise:  # the file, not the string: no wait on itself
            assert spelt_otherwise is outer
        assert outer.execute("SELECT count(*) FROM t").fetchone() == (1,)  # still open
        waiting = threading.Thread(target=open_in_another_thread)
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive() and not other_thread, "another thread must wait for the writer lock"
    waiting.join(timeout=30)
    assert other_thread == [1]
    with warehouse.get_connection() as after:  # a new connection once the outer one has closed
        assert after is not outer
    memory = WarehouseResource(database=":memory:")
    with memory.get_connection() as first, memory.get_connection() as second:
        assert first is not second  # each ':memory:' connection is its own database, as before


def test_what_a_step_s_connection_made_ends_with_it_though_the_process_keeps_its_duckdb_instance(tmp_path: Path):
    # Steps attach the file to one DuckDB instance per process (warehouse._attached) instead of
    # starting their own. The key's pads, the step's attachments, its uncommitted writes and its
    # hold on the files must still end with the step, as when its instance closed, also on a failure.
    from vsat_assets.privacy import register_pseudonym_function
    from vsat_assets.warehouse import WarehouseResource

    warehouse = WarehouseResource(database=str(tmp_path / "vsat.duckdb"))
    with warehouse.get_connection() as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    with pytest.raises(RuntimeError, match="the step failed"), warehouse.get_connection() as conn:
        register_pseudonym_function(conn, b"k" * 32, "vsat_pseudonym")
        assert conn.execute("SELECT vsat_pseudonym('a', 'b')").fetchone()[0].startswith("S")
        conn.execute(f"ATTACH '{tmp_path / 'other.duckdb'}' AS other")
        conn.execute("CREATE TABLE other.o AS SELECT 1 AS y")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("the step failed")
    opened_elsewhere = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys\n"
         "print(duckdb.connect(sys.argv[1]).execute('SELECT count(*) FROM t').fetchone()[0],"
         " duckdb.connect(sys.argv[2]).execute('SELECT count(*) FROM o').fetchone()[0])",
         str(tmp_path / "vsat.duckdb"), str(tmp_path / "other.duckdb")],
        capture_output=True, text=True, timeout=60)
    assert opened_elsewhere.stdout.split() == ["1", "1"], opened_elsewhere.stderr  # released; the insert rolled back
    with warehouse.get_connection() as after:
        assert after.execute("SELECT current_database(), getvariable('vsat_pseudonym_inner_pad')").fetchone() \
            == ("vsat", None)
        assert [name for (name,) in after.execute("SELECT database_name FROM duckdb_databases()").fetchall()
                if name == "other"] == []
        with pytest.raises(duckdb.CatalogException, match="vsat_pseudonym"):
            after.execute("SELECT vsat_pseudonym('a', 'b')")
    # a process that uses many files one after another (a test run) holds one idle instance, not one each
    from vsat_assets import warehouse as module
    for n in range(3):
        with WarehouseResource(database=str(tmp_path / f"w{n}.duckdb")).get_connection() as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (f"w{n}",)
    assert [path for (pid, path, _) in module._instances if pid == os.getpid()] == [str(tmp_path / "w2.duckdb")]


def test_the_warehouse_s_duckdb_threads_come_from_the_setting_and_a_bad_one_is_refused(tmp_path, monkeypatch):
    # Two forces' runs on two cores: each process's DuckDB keeps to its share of them.
    from vsat_assets.warehouse import warehouse_resource

    monkeypatch.setenv("VSAT_DUCKDB_THREADS", "1")
    with warehouse_resource(str(tmp_path / "vsat.duckdb")).get_connection() as conn:
        assert conn.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone() \
            == (1, "953.6 MiB")  # the memory cap still applies: 1GB
    monkeypatch.delenv("VSAT_DUCKDB_THREADS")
    with duckdb.connect() as plain:
        default = plain.execute("SELECT current_setting('threads')").fetchone()
    with warehouse_resource(str(tmp_path / "vsat.duckdb")).get_connection() as conn:
        assert conn.execute("SELECT current_setting('threads')").fetchone() == default  # unset: DuckDB's own
    for bad in ("two", "0", "-1", "1.5"):
        monkeypatch.setenv("VSAT_DUCKDB_THREADS", bad)
        with pytest.raises(ValueError, match=f"VSAT_DUCKDB_THREADS must be a whole number of at least 1, not '{bad}'"):
            warehouse_resource(str(tmp_path / "vsat.duckdb"))


# -------------------------------------------------------------- runs launched together
@pytest.mark.slow
def test_two_runs_launched_together_both_succeed(tmp_path: Path):
    months = ("2025-04-01", "2025-05-01")
    # offence_catalogue in both: raw_reports' checks read raw.offences, and it is rewritten by each.
    select = "offence_catalogue,raw_reports,stg_reports,victim_eligibility,eligible_victims,sampling_frame"
    database = tmp_path / "data" / "vsat.duckdb"
    processes, logs = [], []
    try:
        # Hold the writer lock while both start, so that both are certainly waiting at the same
        # time; then let go and let them take turns.
        with writer_lock(database):
            for i, month in enumerate(months):
                log = tmp_path / f"run_{i}.log"
                cmd = [DAGSTER, "asset", "materialize", "-m", "vsat_assets.definitions", "--select", select,
                       "--partition", month, "--config-json", json.dumps(SCALE_CONFIG)]
                processes.append(_start(cmd, _data_env(tmp_path, f"home_{i}"), log))
                logs.append(log)
            deadline = time.monotonic() + 120
            while not all(WAITING_NOTE in log.read_text(errors="replace") for log in logs):
                for process, log in zip(processes, logs):
                    assert process.poll() is None, (
                        f"{process.args} exited {process.returncode} while the lock was held:\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
                assert time.monotonic() < deadline, "the runs never waited for the writer lock"
                time.sleep(0.2)
        outputs = [_finish(process, log) for process, log in zip(processes, logs)]
    finally:
        for process in processes:
            _kill_if_running(process)

    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-6000:]
        assert "RUN_SUCCESS" in output, output[-6000:]
        assert "RUN_FAILURE" not in output and "STEP_FAILURE" not in output, output[-6000:]
        assert "Could not set lock" not in output, output[-6000:]

    with duckdb.connect(str(database), read_only=True) as conn:
        reported = conn.execute(
            "SELECT strftime(date_trunc('month', report_date), '%Y-%m-01'), count(*) FROM raw.reports GROUP BY 1 ORDER BY 1"
        ).fetchall()
        framed = conn.execute(
            "SELECT strftime(report_month, '%Y-%m-01'), count(*) FROM intermediate.sampling_frame GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [m for m, _ in reported] == list(months)
    assert all(n > 50 for _, n in reported), reported
    assert [m for m, _ in framed] == list(months)


# ------------------------------------------------------------- the analysts' file
def _analytics_snapshot(conn: duckdb.DuckDBPyConnection) -> tuple:
    return (
        conn.execute(
            "SELECT count(*), min(month_start), max(month_start) FROM marts.exclusion_audit").fetchall()[0],
        conn.execute("SELECT count(*) FROM marts.data_dictionary").fetchall()[0][0],
    )


def _assert_no_personal_columns(conn: duckdb.DuckDBPyConnection) -> None:
    columns = conn.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns").fetchall()
    assert columns
    personal = [c for c in columns if any(fragment in c[2].lower() for fragment in PERSONAL_FRAGMENTS)]
    assert personal == [], f"personal-data columns in the analysts' file: {personal}"
    schemas = {c[0] for c in columns}
    assert schemas == {"marts"}, f"only the marts are published, not {schemas - {'marts'}}"


def _documented_columns() -> dict[tuple[str, str], str]:
    """(table, column) -> description, for every marts column documented in the project: the SQL
    models' YAML and the annual tables' definitions (read here independently of the publisher)."""
    from vsat_assets.defs.annual import tables
    from vsat_assets.sql_project import PROJECT_DIR
    from vsat_assets.sql_runner.models import discover_models

    documented = {}
    for table in (tables.ANNUAL, tables.GAP, tables.ROLLING, tables.DA_MONTHLY):
        for name, _, description in table.columns:
            if description:
                documented[(table.name.split(".")[1], name)] = description
    for model in discover_models(PROJECT_DIR).values():
        if model.stage == "marts":
            for column in model.columns:
                if column.description:
                    documented[(model.name, column.name)] = column.description
    return documented


def _assert_dictionary_complete(conn: duckdb.DuckDBPyConnection) -> None:
    tables = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts'").fetchall()
    dictionary = {
        (t, c): d for t, c, d in conn.execute(
            "SELECT table_name, column_name, description FROM marts.data_dictionary").fetchall()
    }
    assert set(tables) == set(dictionary), (
        f"not in the dictionary: {sorted(set(tables) - set(dictionary))}; "
        f"in it but not published: {sorted(set(dictionary) - set(tables))}")
    published = {t for t, _ in tables}
    undocumented = [
        key for key in _documented_columns() if key[0] in published and not (dictionary.get(key) or "").strip()
    ]
    assert undocumented == [], f"documented columns without a description in the dictionary: {undocumented}"
    missing_table_doc = conn.execute(
        "SELECT DISTINCT table_name FROM marts.data_dictionary "
        "WHERE coalesce(trim(table_description), '') = '' AND table_name <> 'data_dictionary'"
    ).fetchall()
    assert missing_table_doc == [], f"tables without a description: {missing_table_doc}"


@pytest.mark.slow
def test_an_analysts_open_connection_survives_a_full_run(
    tmp_path, monkeypatch, make_resources, materialize_vsat, failure_messages
):
    data = tmp_path / "data"
    monkeypatch.setenv("VSAT_DATA_DIR", str(data))
    published = data / "vsat_analytics.duckdb"

    # The first month, in process, on the warehouse the CLI run below also uses (<data>/vsat.duckdb).
    resources = make_resources(warehouse="data/vsat.duckdb")
    first = materialize_vsat(resources, partition="2025-04-01", selection=_monthly_job_keys())
    assert first.success, failure_messages(first)
    assert published.exists()

    analyst = duckdb.connect(str(published), read_only=True)
    try:
        before = _analytics_snapshot(analyst)
        assert before[0][0] > 0 and str(before[0][1]) == str(before[0][2]) == "2025-04-01", before
        inode_before = published.stat().st_ino

        # The next month's full scheduled job in another process, while the analyst's connection stays open.
        config = tmp_path / "run_config.yaml"
        config.write_text(json.dumps(SCALE_CONFIG))  # JSON is YAML
        log = tmp_path / "second_run.log"
        cmd = [DAGSTER, "job", "execute", "-m", "vsat_assets.definitions", "-j", "monthly_survey_job",
               "--tags", json.dumps({"dagster/partition": "2025-05-01"}), "-c", config]
        process = _start(cmd, _data_env(tmp_path, "home"), log)
        answers = []
        try:
            while process.poll() is None:
                answers.append(_analytics_snapshot(analyst))
                time.sleep(0.1)
            output = _finish(process, log)
        finally:
            _kill_if_running(process)
        assert process.returncode == 0, output[-6000:]
        assert "RUN_SUCCESS" in output and "STEP_FAILURE" not in output, output[-6000:]
        assert 'analytics_file' in output

        # The open connection answered throughout, always from the snapshot it opened...
        assert len(answers) > 10, "the run was too quick to query during it"
        assert set(answers) == {before}
        # ...and still does after the file was replaced under it.
        assert published.stat().st_ino != inode_before, "the file was not replaced by a new one"
        assert _analytics_snapshot(analyst) == before
    finally:
        analyst.close()

    with duckdb.connect(str(published), read_only=True) as conn:
        months = [str(m) for (m,) in conn.execute(
            "SELECT DISTINCT month_start FROM marts.exclusion_audit ORDER BY ALL").fetchall()]
        assert months == ["2025-04-01", "2025-05-01"]
        _assert_no_personal_columns(conn)
        _assert_dictionary_complete(conn)
    assert not list(data.glob(".vsat_analytics.duckdb.partial*")), "a temporary file was left behind"


def test_every_marts_table_is_upstream_of_the_analytics_file():
    """The published file copies marts.*: every asset writing a marts table must run before it,
    or a run (e.g. the annual job) can publish the previous run's tables."""
    graph = _defs().resolve_asset_graph()
    publish = AssetKey("analytics_file")
    upstream = AssetSelection.assets(publish).upstream().resolve(graph) - {publish}
    writers = set()
    for key in graph.get_all_asset_keys():
        table = (graph.get(key).metadata or {}).get("dagster/table_name")
        if isinstance(table, str) and table.startswith("marts."):
            writers.add(key)
    assert writers, "no asset declares a marts table"
    missing = sorted(k.to_user_string() for k in writers - upstream)
    assert missing == [], f"assets writing marts tables that analytics_file does not depend on: {missing}"


def test_published_dictionary_documents_the_annual_tables_too(tmp_path, monkeypatch, materialize_vsat,
                                                                failure_messages, make_resources):
    """The annual satisfaction tables are marts too; their columns are documented in annual/tables.py."""
    from vsat_assets.defs.annual import tables

    data = tmp_path / "data"
    monkeypatch.setenv("VSAT_DATA_DIR", str(data))
    resources = make_resources(warehouse="data/vsat.duckdb")
    annual_tables = [tables.ANNUAL, tables.GAP, tables.ROLLING, tables.DA_MONTHLY]
    with resources["warehouse"].get_connection() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for table in annual_tables:
            conn.execute(f"CREATE TABLE {table.name} ({table.ddl()})")

    result = materialize_vsat(resources, selection=["analytics_file"])
    assert result.success, failure_messages(result)

    with duckdb.connect(str(data / "vsat_analytics.duckdb"), read_only=True) as conn:
        _assert_no_personal_columns(conn)
        described = {
            (t, c): d for t, c, d in conn.execute(
                "SELECT table_name, column_name, description FROM marts.data_dictionary").fetchall()
        }
    undocumented = []
    for table in annual_tables:
        short = table.name.split(".")[1]
        for name, _, description in table.columns:
            assert (short, name) in described, f"{short}.{name} missing from the dictionary"
            if description and not (described[(short, name)] or "").strip():
                undocumented.append(f"{short}.{name}")
    assert undocumented == [], f"annual columns documented in annual/tables.py but blank in the dictionary: {undocumented}"
