"""Dagster's default run launcher, able to tell the run monitor that a run's process has died.

The default launcher cannot check a run worker's health, so with it Dagster's run monitoring
only applies timeouts: a run whose process was killed (`kill -9`, out of memory, a crash of
`make demo` or of a `dagster asset materialize`) would stay STARTED for ever. A run's events
carry the id of the process that runs it; this launcher reports the worker FAILED once that
process is gone, and the daemon then marks the run failed. It assumes, as the default launcher
does, that runs execute on the machine where the daemon runs.

Set in the instance profiles (deploy/), with `run_monitoring: enabled: true`.
"""

import os
import time
from pathlib import Path

from dagster import DagsterRun, DefaultRunLauncher
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# A process that started this long after the run did is another process that reused the id.
_PID_REUSE_SLACK_SECONDS = 5.0


def _linux_process_start(pid: int) -> float | None:
    """When the process started (epoch seconds), or None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def process_alive(pid: int, started_by: float | None = None) -> bool:
    """The process exists, is not a zombie, and (where /proc tells) started by `started_by`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except OSError:
        pass
    if started_by is not None:
        started = _linux_process_start(pid)
        if started is not None and started > started_by + _PID_REUSE_SLACK_SECONDS:
            return False
    return True


class ProcessCheckingRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher, plus a worker health check on the run's process id."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        started = self._instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        pid = started[-1].dagster_event.pid if started and started[-1].dagster_event else None
        if pid is None:
            # Not started yet: the monitor's start timeout covers a run that never starts.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run process recorded yet")
        since = started[-1].timestamp
        if process_alive(pid, started_by=since):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's process {pid} (started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}) "
            "is gone: it was killed or crashed",
        )
