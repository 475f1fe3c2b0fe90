"""`make demo` runs the named jobs the schedules and the sensor run (so the UI lists its runs
under them, not under `__ephemeral_asset_job__`), over two financial years, and prints the
headline table with the change on the previous year.

The demo is run here on one month of each year and a small generator, in a temporary
DAGSTER_HOME and data folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from vsat_tests.conftest import SMALL_SCALE

NAMED_JOBS = {"monthly_survey_job", "survey_responses_job", "annual_satisfaction_job", "retention_job"}
PROJECT = Path(__file__).resolve().parents[1]
TWO_YEARS = (("2024/25", "2025-03-01", "2025-03-01"), ("2025/26", "2025-04-01", "2025-04-01"))


@pytest.mark.slow
def test_the_demo_runs_the_named_jobs_over_two_years(tmp_path):
    # In its own process: the code location reads VSAT_DATA_DIR when it is imported.
    env = {k: v for k, v in os.environ.items()
           if k not in ("VSAT_DROP_DIR", "VSAT_REPORT_SOURCE", "VSAT_PROFILE", "VSAT_PSEUDONYM_KEY")}
    env.update(VSAT_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "dagster_home"),
               VSAT_PROFILE="demo")
    (tmp_path / "dagster_home").mkdir()
    scale = {"resources": {"report_source": {"config": {"scale": SMALL_SCALE}}}}
    script = f"from vsat_assets import demo; demo.main({TWO_YEARS!r}, monthly_run_config={scale!r})"
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = list(reversed(instance.get_runs()))
    jobs = [run.job_name for run in runs]
    partitions = [run.tags.get("dagster/partition") or (run.tags.get("dagster/asset_partition_range_start"),
                                                        run.tags.get("dagster/asset_partition_range_end"))
                  for run in runs]
    assert set(jobs) == NAMED_JOBS, jobs
    assert jobs == ["monthly_survey_job", "survey_responses_job"] * 2 + ["annual_satisfaction_job", "retention_job"]
    assert partitions[:4] == ["2025-03-01", "2025-03-01", "2025-04-01", "2025-04-01"]
    # Both financial years in one annual run, so 2025/26 is compared with 2024/25.
    assert partitions[4] == ("2024-04-01", "2025-04-01")

    assert "Headline results 2025/26" in done.stdout and "the change on 2024/25" in done.stdout
    assert "change_pp" in done.stdout and "2024/25_pct" in done.stdout
