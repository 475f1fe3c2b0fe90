"""kill -9 at each write step of the hand-off, the returns ingestion and the publish, then a
normal run: one consistent end state, and no temporary file (with or without personal data) left.

Measured before: a kill before the rename left `.handoff_YYYY-MM.csv.*.partial` with names and
phones that survived re-runs and purges; a kill between the file and the log let a later run
silently replace a file that may already have gone to the contractor.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vsat_assets.contractor_sim.simulate import simulate_returns
from vsat_assets.resources import SurveySettings
from conftest import TO_HANDOFF, cached_state

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parents[1]
APRIL = "2025-04-01"
HANDOFF, MANIFEST = "handoff_2025-04.csv", "handoff_2025-04.manifest.json"
# Steps after which the file is in the outbox, so it may have been collected.
LANDED = {"handoff.file.renamed", "handoff.manifest.before_rename", "handoff.manifest_written", "handoff.marked"}
HANDOFF_STEPS = ["handoff.intent_logged", "handoff.file.before_rename", *sorted(LANDED)]


def run_killed(folder: Path, step: str, *selection: str, partition: str = APRIL) -> None:
    env = dict(os.environ, VSAT_CRASH_AT=step)
    done = subprocess.run([sys.executable, str(PROJECT / "vsat_tests" / "crash_runner.py"), str(folder), partition,
                           *selection], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, f"{step} was never reached:\n{done.stderr[-3000:]}"


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial" in p.name)


@pytest.fixture
def cohort_built(tmp_path, tmp_path_factory, resources, materialize_vsat) -> dict:
    """April's cohort, not yet handed off."""
    def build() -> None:
        assert materialize_vsat(resources, partition=APRIL, selection=TO_HANDOFF[:-1]).success

    cached_state(tmp_path_factory, tmp_path, "generator-2025-04-cohort", build)
    return resources


def assert_one_consistent_state(folder: Path, warehouse_rows, resources) -> dict:
    outbox = folder / "outbox"
    content = (outbox / HANDOFF).read_bytes()
    manifest = json.loads((outbox / MANIFEST).read_text())
    log = warehouse_rows(resources["warehouse"],
                         "SELECT status, rows, sha256, file_sha256, sent_at IS NOT NULL FROM ops.handoff_log")
    sha = hashlib.sha256(content).hexdigest()
    rows = content.count(b"\n") - 1
    assert log == [("WRITTEN", rows, sha, sha, True)]
    assert (manifest["sha256"], manifest["rows"]) == (sha, rows)
    history = warehouse_rows(resources["warehouse"], "SELECT survey_id FROM ops.contact_history")
    in_file = sorted(line.split(",")[0] for line in content.decode().splitlines()[1:])
    assert sorted(s for (s,) in history) == in_file
    assert leftovers(folder) == []
    return {"content": content}


@pytest.mark.parametrize("step", HANDOFF_STEPS)
def test_a_handoff_killed_at_any_step_ends_in_one_consistent_state(
    step, cohort_built, tmp_path, materialize_vsat, warehouse_rows
):
    run_killed(tmp_path, step, "contractor_handoff")
    landed = (tmp_path / "outbox" / HANDOFF).read_bytes() if step in LANDED else None
    if step == "handoff.file.before_rename":
        assert leftovers(tmp_path) != []  # the kill left names and phones in a temporary file

    # The next run resamples with another seed: a file that may have been collected must stand.
    resampled = {**cohort_built, "survey": SurveySettings(sample_seed=7)}
    materialize_vsat(resampled, partition=APRIL, selection=("sampled_cohort", "contractor_handoff"))
    if landed is None:
        assert materialize_vsat(resampled, partition=APRIL, selection=("contractor_handoff",)).success

    state = assert_one_consistent_state(tmp_path, warehouse_rows, cohort_built)
    if landed is not None:
        assert state["content"] == landed


@pytest.mark.parametrize("step", ["returns.before_commit", "returns.committed"])
def test_returns_killed_mid_ingestion_are_stored_once_on_the_next_run(
    step, generator_handoffs, tmp_path, materialize_vsat, warehouse_rows
):
    returns = simulate_returns(tmp_path / "outbox" / HANDOFF, tmp_path / "inbox")
    returned = returns.read_text().count("\n") - 1
    run_killed(tmp_path, step, "survey_responses")
    stored_after_kill = warehouse_rows(generator_handoffs["warehouse"],
                                       "SELECT count(*) FROM staging.survey_responses")[0][0]
    assert stored_after_kill == (returned if step == "returns.committed" else 0)

    assert materialize_vsat(generator_handoffs, partition=APRIL, selection=("survey_responses",)).success

    counts = warehouse_rows(generator_handoffs["warehouse"],
                            "SELECT count(*), count(DISTINCT survey_id) FROM staging.survey_responses")
    assert counts == [(returned, returned)]
    assert leftovers(tmp_path) == []


def test_a_publish_killed_before_its_rename_leaves_the_previous_file_and_no_temporary_one(
    generator_handoffs, tmp_path, materialize_vsat, monkeypatch
):
    monkeypatch.setenv("VSAT_DATA_DIR", str(tmp_path / "data"))
    assert materialize_vsat(generator_handoffs, selection=("analytics_file",)).success
    published = tmp_path / "data" / "vsat_analytics.duckdb"
    before = published.read_bytes()

    run_killed(tmp_path, "publish.before_rename", "analytics_file", partition="-")
    assert published.read_bytes() == before and leftovers(tmp_path) != []

    assert materialize_vsat(generator_handoffs, selection=("analytics_file",)).success
    assert leftovers(tmp_path) == []
