"""A run whose process is killed with SIGKILL is marked failed by the daemon's run monitoring.

The run executes in a child process (as `make demo` or `dagster asset materialize` do) on an
instance made from deploy/dagster.local.yaml; the test kills the process in the middle of a
step and runs one iteration of the daemon's run monitoring, as `dagster-daemon` does every
poll interval.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dagster import DagsterInstance, DagsterRunStatus
from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration

PROJECT = Path(__file__).resolve().parents[1]
RUN_IN_CHILD = """
import sys, time
from pathlib import Path
from dagster import DagsterInstance, job, op

@op
def long_step():
    Path(sys.argv[1]).touch()
    time.sleep(120)

@job
def long_job():
    long_step()

long_job.execute_in_process(instance=DagsterInstance.get())
"""


class _Daemon:
    """What the monitoring iteration needs of the daemon's workspace: the instance (runs are
    never resumed here, so no code location is loaded)."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance

    def create_request_context(self):
        return None


def _monitor_once(instance: DagsterInstance) -> None:
    for error in execute_run_monitoring_iteration(_Daemon(instance), logging.getLogger("run_monitoring")):
        assert error is None, error


def _wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_both_profiles_turn_run_monitoring_on_without_resuming():
    for profile in ("dagster.local.yaml", "dagster.yaml"):
        config = yaml.safe_load((PROJECT / "deploy" / profile).read_text())
        monitoring = config["run_monitoring"]
        assert monitoring["enabled"] is True, profile
        assert monitoring["max_resume_run_attempts"] == 0, profile
        assert monitoring["start_timeout_seconds"] > 0 and monitoring["cancel_timeout_seconds"] > 0, profile
        assert config["run_launcher"] == {"module": "vsat_assets.run_launcher", "class": "ProcessCheckingRunLauncher"}


def test_a_run_killed_with_sigkill_is_marked_failed_by_run_monitoring(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    in_step = tmp_path / "in_step"
    child = subprocess.Popen(
        [sys.executable, "-c", RUN_IN_CHILD, str(in_step)],
        env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(in_step.exists, what="the run's step to start")
        with DagsterInstance.from_config(str(home)) as instance:
            assert instance.run_monitoring_enabled
            [run] = instance.get_runs()
            assert run.status == DagsterRunStatus.STARTED

            _monitor_once(instance)  # a live run is left alone
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED

            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # what was measured

            _monitor_once(instance)
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
            messages = [e.message for e in instance.all_logs(run.run_id) if e.message]
            assert any("is gone" in m for m in messages), messages[-3:]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
