"""Every command-line tool answers a bad input with one line on stderr and a non-zero exit code."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
M = [sys.executable, "-m"]


def run(args: list[str], data: Path, profile: str = "demo") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "VSAT_DATA_DIR": str(data), "HOME": str(data), "VSAT_PROFILE": profile}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


CASES = {
    "opt-out: unusable phone": ([*M, "vsat_assets.defs.sampling", "--surname", "Example", "--phone", "12345"],
                                "not a usable UK number"),
    "opt-out: missing phone": ([*M, "vsat_assets.defs.sampling", "--surname", "Example"], "--phone"),
    "opt-out: bad date": ([*M, "vsat_assets.defs.sampling", "--surname", "Example", "--phone", "07700 900123",
                           "--received-on", "yesterday"], "--received-on"),
    "hand-off: bad month": ([*M, "vsat_assets.defs.handoff", "sent", "2025-13"], "expected YYYY-MM"),
    "hand-off: no command": ([*M, "vsat_assets.defs.handoff"], "required"),
    "hand-off: no warehouse": ([*M, "vsat_assets.defs.handoff", "sent", "2025-04"], "no warehouse there"),
    "opt-out: no warehouse": ([*M, "vsat_assets.defs.sampling", "--surname", "Example", "--phone", "07700 900123"],
                              "no warehouse there"),
    "contractor: missing outbox": ([*M, "vsat_assets.contractor_sim", "--outbox", "nowhere", "--inbox", "x"],
                                   "no such folder"),
    "contractor: bad seed": ([*M, "vsat_assets.contractor_sim", "--outbox", ".", "--inbox", "x", "--seed", "ten"],
                             "--seed"),
    "demo: unknown option": ([*M, "vsat_assets.demo", "--year", "2025"], "unrecognized arguments"),
    "data dictionary: no file": ([sys.executable, "scripts/data_dictionary.py", "--check", "nowhere.md"],
                                 "nowhere.md"),
    "bench: unknown option": ([sys.executable, "scripts/bench.py", "--fast"], "unrecognized arguments"),
    "generator speed: unknown option": ([sys.executable, "scripts/generator_speed.py", "--x"],
                                        "unrecognized arguments"),
}


def test_opt_out_without_a_key_says_so_in_one_line(tmp_path):
    result = run([*M, "vsat_assets.defs.sampling", "--surname", "Example", "--phone", "07700 900123"], tmp_path,
                 profile="production")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "VSAT_PSEUDONYM_KEY" in result.stderr
    assert "Example" not in result.stderr and "900123" not in result.stderr


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_line_and_a_non_zero_exit(case, tmp_path):
    args, expected = CASES[case]
    result = run(args, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in lines[0]
    assert "Example" not in result.stderr and "900123" not in result.stderr  # never echo a name or phone
    assert list(tmp_path.iterdir()) == []  # no warehouse, no lock file: a failed command leaves nothing


# A mistyped VSAT_DATA_DIR: every tool that writes the warehouse refuses, and creates nothing there.
WRITERS = {
    "opt-out": [*M, "vsat_assets.defs.sampling", "--surname", "Example", "--phone", "07700 900123"],
    "hand-off sent": [*M, "vsat_assets.defs.handoff", "sent", "2025-04"],
    "hand-off reopen": [*M, "vsat_assets.defs.handoff", "reopen", "2025-04", "--reason", "withdrawn, ref W-1"],
    "contractor": [*M, "vsat_assets.contractor_sim", "--outbox", "{data}/outbox", "--inbox", "{data}/inbox",
                   "--reports-db", "{data}/vsat.duckdb"],
}


@pytest.mark.parametrize("tool", WRITERS)
def test_a_missing_warehouse_is_one_line_naming_it_and_nothing_is_created(tool, tmp_path):
    mistyped = tmp_path / "dta"
    args = [a.replace("{data}", str(mistyped)) for a in WRITERS[tool]]
    result = run(args, mistyped)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(mistyped) in lines[0], result.stderr
    assert "opt-out recorded" not in result.stdout and "recorded as sent" not in result.stdout
    assert not mistyped.exists()


def existing_warehouse(data: Path) -> None:
    """A warehouse as the monthly job leaves it: the ops tables, one hand-off written and not sent."""
    import duckdb

    from vsat_assets.warehouse import ensure_schemas

    with duckdb.connect(str(data / "vsat.duckdb")) as conn:
        ensure_schemas(conn)
        conn.execute("""INSERT INTO ops.handoff_log (sampling_month, file, rows, sha256, layout_version, written_at)
                        VALUES (DATE '2025-04-01', 'handoff_2025-04.csv', 3, 'abc', 1, current_timestamp)""")


def test_handoff_sent_twice_says_the_second_time_that_it_already_was(tmp_path):
    existing_warehouse(tmp_path)
    first = run([*M, "vsat_assets.defs.handoff", "sent", "2025-04"], tmp_path)
    assert first.returncode == 0 and first.stdout.strip() == "hand-off 2025-04 recorded as sent", first.stderr
    again = run([*M, "vsat_assets.defs.handoff", "sent", "2025-04"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("hand-off 2025-04 was already recorded as sent on ")
    assert "nothing changed" in again.stdout


def test_an_emailed_opt_out_is_recorded_on_the_dagster_instance(tmp_path):
    from dagster import AssetKey, DagsterInstance

    existing_warehouse(tmp_path)
    home = tmp_path / "dagster_home"   # where the Makefile puts DAGSTER_HOME
    home.mkdir()
    request = [*M, "vsat_assets.defs.sampling", "--surname", "Example", "--phone", "07700 900123"]
    done = run(request, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "opt-out recorded: 1 new register entries", done.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(AssetKey("opt_out_register"))
        assert event is not None, "the UI would show opt_out_register as never materialized"
        metadata = event.asset_materialization.metadata
        assert metadata["dagster/row_count"].value == 1 and metadata["entries_added"].value == 1
        assert "900123" not in str(metadata) and "Example" not in str(metadata)
    again = run(request, tmp_path)
    assert again.returncode == 0 and again.stdout.strip() == "already on the register"
