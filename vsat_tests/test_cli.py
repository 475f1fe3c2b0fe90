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
    "hand-off: no warehouse": ([*M, "vsat_assets.defs.handoff", "sent", "2025-04"], "no warehouse yet"),
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
    assert not (tmp_path / "vsat.duckdb").exists() or case.startswith("opt-out")
