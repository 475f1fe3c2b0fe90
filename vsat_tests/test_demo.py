"""`make demo` runs the named jobs the schedules and the sensor run (so the UI lists its runs
under them, not under `__ephemeral_asset_job__`), over two financial years, and prints the
headline table with the change on the previous year. Its clock stands at the demo's own date,
so retention keeps the months still within it and a sent month can be re-opened.

The demo is run once per session (conftest's `demo_clone`): March 2025, then April 2025 to
March 2026, with a small generator, in a temporary clone-like directory.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from vsat_assets import demo
from vsat_tests.conftest import PROJECT_ROOT, users_shell_env

NAMED_JOBS = {"monthly_survey_job", "survey_responses_job", "annual_satisfaction_job", "pcc_quarterly_pack_job",
              "retention_job"}
DEMO_DAY = date(2026, 4, 1)
# Contact windows close 84 days after the report; retention keeps them 90 days more: as of
# 1 April 2026, September 2025's last window (29 Dec 2025) is past it and October's is not.
PURGED = [f"2025-{m:02d}" for m in range(3, 10)]
KEPT = ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]


@pytest.mark.slow
def test_the_demo_runs_the_named_jobs_over_two_years(demo_clone):
    with DagsterInstance.from_config(str(demo_clone["dagster_home"])) as instance:
        runs = list(reversed(instance.get_runs()))
    runs = [run for run in runs if run.tags.get("dagster/partition") != "2026-03-01"]  # a docs command's re-run
    jobs = [run.job_name for run in runs]
    partitions = [run.tags.get("dagster/partition") or (run.tags.get("dagster/asset_partition_range_start"),
                                                        run.tags.get("dagster/asset_partition_range_end"))
                  for run in runs]
    assert set(jobs) == NAMED_JOBS, jobs
    assert jobs == ["monthly_survey_job", "survey_responses_job"] * 2 + [
        "annual_satisfaction_job", "pcc_quarterly_pack_job", "retention_job"]
    # One range run per year, as a backfill would be.
    assert partitions[:4] == ["2025-03-01", "2025-03-01", ("2025-04-01", "2026-03-01"), ("2025-04-01", "2026-03-01")]
    # Both financial years in one annual run, so 2025/26 is compared with 2024/25.
    assert partitions[4] == ("2024-04-01", "2025-04-01")
    assert partitions[5] == "2026-01-01"  # the pack of the last quarter, January to March 2026

    stdout = demo_clone["stdout"]
    assert "Headline results 2025/26" in stdout and "the change on 2024/25" in stdout
    assert "change_pp" in stdout and "2024/25_pct" in stdout
    assert "The demo's date: 2026-04-01" in stdout
    assert "PCC quarterly pack: " in stdout and "vsat_pcc_pack_2025-26_q4.html" in stdout
    assert (demo_clone["data"] / "reports" / "vsat_pcc_pack_2025-26_q4.ods").exists()


def _log(data: Path) -> dict[str, tuple]:
    with duckdb.connect(str(data / "vsat.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT strftime(sampling_month, '%Y-%m'), sent_at, purged_at FROM ops.handoff_log ORDER BY 1").fetchall()
        retention = conn.execute("SELECT as_of FROM ops.retention_log ORDER BY ran_at").fetchall()
        names = dict(conn.execute(
            """SELECT strftime(sampling_month, '%Y-%m'), count(*) FILTER (WHERE surname IS NOT NULL)
               FROM intermediate.sampled_cohort GROUP BY ALL""").fetchall())
    return {"log": {month: (sent, purged) for month, sent, purged in rows}, "retention": retention, "names": names}


@pytest.mark.slow
def test_the_demos_clock_is_the_demos_own_date_so_its_recent_months_are_kept_and_can_be_reopened(demo_clone, tmp_path):
    """Defect 5: retention ran as of the machine's date, so every demo month was purged and a sent
    month could not be re-opened. The demo's hand-offs, opt-outs and retention are dated 1 April 2026."""
    data = demo_clone["data"]
    state = _log(data)
    assert demo.demo_today(demo_clone["years"]) == demo.DEMO_TODAY == DEMO_DAY
    assert state["retention"][0] == (DEMO_DAY,)
    assert sorted(state["log"]) == PURGED + KEPT
    assert {month: sent.date() for month, (sent, _) in state["log"].items()} == dict.fromkeys(PURGED + KEPT, DEMO_DAY)
    assert [month for month, (_, purged) in state["log"].items() if purged is not None] == PURGED
    outbox = {path.name for path in (data / "outbox").glob("handoff_*.csv")}
    assert outbox == {f"handoff_{month}.csv" for month in KEPT}
    assert all(state["names"][month] > 0 for month in KEPT) and not any(state["names"][m] for m in PURGED)
    with duckdb.connect(str(data / "vsat.duckdb"), read_only=True) as conn:
        recorded = conn.execute("SELECT min(recorded_at)::DATE, max(recorded_at)::DATE FROM ops.opt_out_register "
                                "WHERE channel = 'CONTRACTOR_RETURNS'").fetchone()
    assert recorded == (DEMO_DAY, DEMO_DAY)

    # Re-opening, on a copy of the demo's warehouse: a kept month can be, a purged one cannot.
    copy = tmp_path / "data"
    copy.mkdir()
    shutil.copy2(data / "vsat.duckdb", copy / "vsat.duckdb")
    env = users_shell_env(VSAT_DATA_DIR=str(copy))

    def reopen(month: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vsat_assets.defs.handoff", "reopen", month, "--reason", "test"],
                              env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)

    kept, purged = reopen("2026-02"), reopen("2025-09")
    assert kept.returncode == 0 and "2026-02 re-opened" in kept.stdout, kept.stderr
    assert purged.returncode == 1 and "purged after its retention period" in purged.stderr, purged.stderr


def test_the_makefile_dates_the_demo_targets_on_the_demos_date():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"^demo ui contractor: export VSAT_TODAY \?= (\S+)$", makefile, re.M).group(1) == \
        demo.DEMO_TODAY.isoformat()


def _published_copy(data: Path, target: Path) -> Path:
    """The demo's warehouse (the truth) and everything it published, copied so the attack changes nothing."""
    target.mkdir()
    for name in ("vsat.duckdb", "vsat_analytics.duckdb"):
        shutil.copy2(data / name, target / name)
    for folder in ("extracts", "exports", "reports"):
        shutil.copytree(data / folder, target / folder)
    return target


@pytest.mark.slow
def test_nothing_the_demo_publishes_gives_away_a_suppressed_cell_until_the_old_extracts_return(demo_clone, tmp_path):
    """The intruder holds the analysts' file, every extract, the HMICFRS exports and the reports'
    tables at once (differencing, bounds, rolling overlaps, domestic abuse months against quarters):
    nothing suppressed is recovered. Restore the extracts as they were (every marts table as it
    stands, respondent rows included) and the same attack recovers the suppressed cells."""
    from vsat_assets.defs.publish import extracts
    from vsat_tests.disclosure_attack import Outputs, attack, gather, read_outputs, read_truth

    copy = _published_copy(demo_clone["data"], tmp_path / "published")
    truth = read_truth(copy / "vsat.duckdb")
    outputs = read_outputs(copy, truth)
    facts = gather(outputs, 10)
    assert any(s.startswith("exports/") for s in outputs.tables) and any(s.startswith("reports/") for s in outputs.tables)
    assert len(facts.targets) > 50  # at the demo's small scale most strand x area cells are suppressed
    # The PCC pack's spreadsheets are read, each to the same cells, all of them cells of the truth.
    pack = {}
    for extension in (".ods", ".xlsx"):
        sheets = {s: t for s, t in outputs.tables.items()
                  if s.startswith("reports/vsat_pcc_pack_") and s.split(":")[0].endswith(extension)}
        pack[extension] = gather(Outputs(sheets), 10)
        assert pack[extension].base and pack[extension].targets, (extension, sorted(sheets))
        assert set(pack[extension].base) | set(pack[extension].value) | pack[extension].targets <= set(truth.base)
    assert (pack[".ods"].base, pack[".ods"].value) == (pack[".xlsx"].base, pack[".xlsx"].value)
    assert attack(copy) == []
    report = next((copy / "reports").glob("*2025-26.html")).read_text(encoding="utf-8")
    assert "Who these figures describe" in report and "had no usable phone number" in report  # the coverage caveat

    (day,) = [p for p in (copy / "extracts").iterdir()]
    with duckdb.connect(str(copy / "vsat.duckdb"), read_only=True) as conn:
        every_mart = [t for (t,) in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()]
        extracts.write_extracts(conn, "vsat.marts", every_mart, day)
    found = attack(copy)
    assert any("responses" in f and "suppressed cells' bases and values" in f for f in found), found
    assert any(f.startswith("count under 10 published") for f in found), found
    assert any("recovered exactly" in f for f in found), found
