"""The production instance profile (deploy/dagster.yaml) against a real PostgreSQL server.

Needs Debian's postgresql server binaries (scripts/install_test_deps.sh) and the
dagster-postgres package. Takes about half a minute.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

PROJECT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"
PARTITION = "2025-04-01"
PG_USER, PG_PASSWORD, PG_DB = "vsat", "vsat-test-password", "vsat_dagster"


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb: run scripts/install_test_deps.sh")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its commands as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture
def postgres_server():
    """A throwaway server on 127.0.0.1:<free port>, user vsat (password auth), database vsat_dagster."""
    pg_bin, as_server = _pg_bin(), _as_server_user()
    # Not under tmp_path: pytest makes that root-only, and the server user must write here.
    base = Path(tempfile.mkdtemp(prefix="vsat-pg-"))
    if as_server:
        os.chown(base, pwd.getpwnam("postgres").pw_uid, -1)
    data, log, pwfile = base / "data", base / "server.log", base / "pw"
    port = _free_port()
    started = False
    try:
        _run(as_server + ["sh", "-c", f"umask 077; echo '{PG_PASSWORD}' > {pwfile}"])
        _run(as_server + [pg_bin / "initdb", "-D", data, "-U", PG_USER, f"--pwfile={pwfile}",
                          "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"])
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        _run(as_server + [pg_bin / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"])
        started = True
        conn = psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD, dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            conn.cursor().execute(f"CREATE DATABASE {PG_DB}")
        finally:
            conn.close()
        yield {"host": "127.0.0.1", "port": port, "user": PG_USER, "password": PG_PASSWORD, "dbname": PG_DB}
    finally:
        if started:
            subprocess.run(as_server + [str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_instance_env(postgres_server: dict, tmp_path: Path, monkeypatch) -> dict:
    """DAGSTER_HOME with deploy/dagster.yaml, the VSAT_PG_* variables and a temp VSAT_DATA_DIR, in os.environ."""
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "VSAT_DATA_DIR": str(data),
        "VSAT_PG_USER": postgres_server["user"],
        "VSAT_PG_PASSWORD": postgres_server["password"],
        "VSAT_PG_HOST": postgres_server["host"],
        "VSAT_PG_PORT": str(postgres_server["port"]),
        "VSAT_PG_DB": postgres_server["dbname"],
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _materialize(select: str, partition: str | None = None) -> None:
    cmd = [DAGSTER, "asset", "materialize", "-m", "vsat_assets.definitions", "--select", select]
    if partition:
        cmd += ["--partition", partition]
    _run(cmd, cwd=PROJECT, env=dict(os.environ), stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_a_partition_run_is_recorded_in_postgres(pg_instance_env: dict, postgres_server: dict):
    # raw_reports' checks join raw.offences, which the unpartitioned offence_catalogue writes.
    _materialize("offence_catalogue")
    _materialize("raw_reports", PARTITION)

    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        runs = instance.get_runs(RunsFilter(tags={"dagster/partition": PARTITION}))
        assert len(runs) == 1, runs
        run = runs[0]
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.asset_selection and {key.to_user_string() for key in run.asset_selection} == {"raw_reports"}
        materialized = instance.get_latest_materialization_event(
            next(iter(run.asset_selection))
        )
        assert materialized is not None and materialized.run_id == run.run_id

    # Straight from the server: the run row is in PostgreSQL's `runs` table.
    conn = psycopg2.connect(
        host=postgres_server["host"], port=postgres_server["port"], user=postgres_server["user"],
        password=postgres_server["password"], dbname=postgres_server["dbname"],
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run.run_id,))
            assert cur.fetchall() == [("SUCCESS",)]
            cur.execute("SELECT count(*) FROM runs")
            assert cur.fetchone()[0] == 2  # offence_catalogue, then raw_reports
    finally:
        conn.close()
