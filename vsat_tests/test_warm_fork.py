"""Force processes forked from a warm interpreter (vsat_assets.warm_fork): each command its own
process, with only its own environment, its output in its files, its exit code back; the warm
process never holds a force's settings."""

import json
import os
import sys
from pathlib import Path

import pytest

from vsat_assets.warm_fork import WarmInterpreter

ROOT = Path(__file__).resolve().parents[1]

SHOW = """
import json, os, sys
import duckdb  # preloaded: already in sys.modules before the command ran
print(json.dumps({"pid": os.getpid(), "parent": os.getppid(), "argv": sys.argv[1:],
                  "env": {k: v for k, v in os.environ.items() if k.startswith("VSAT_")},
                  "cwd": os.getcwd(), "preloaded": "duckdb" in sys.modules}))
if "--fail" in sys.argv:
    raise SystemExit("the force's run stopped: bad row 7")
"""


def _env(**vsat) -> dict:
    return {"PATH": os.environ.get("PATH", ""), **{f"VSAT_{k}": v for k, v in vsat.items()}}


@pytest.fixture(scope="module")
def warm():
    with WarmInterpreter(("duckdb",), env={"PATH": os.environ.get("PATH", "")}) as interpreter:
        yield interpreter


def test_each_command_runs_in_its_own_fork_with_only_its_own_environment(warm, tmp_path):
    script = tmp_path / "show.py"
    script.write_text(SHOW)
    seen = []
    for code, key in (("DUR", "a" * 64), ("CLE", "b" * 64)):
        out, err = tmp_path / f"{code}.out", tmp_path / f"{code}.err"
        extra = {"ONLY_DUR": "1"} if code == "DUR" else {}
        assert warm.run([script, code], _env(FORCE=code, PSEUDONYM_KEY=key, **extra), tmp_path, out, err) == 0
        seen.append(json.loads(out.read_text()))
    dur, cle = seen
    assert dur["env"] == {"VSAT_FORCE": "DUR", "VSAT_PSEUDONYM_KEY": "a" * 64, "VSAT_ONLY_DUR": "1"}
    assert cle["env"] == {"VSAT_FORCE": "CLE", "VSAT_PSEUDONYM_KEY": "b" * 64}  # nothing of DUR's left
    assert dur["pid"] != cle["pid"] and dur["parent"] == cle["parent"] == warm._process.pid
    assert dur["argv"] == ["DUR"] and dur["cwd"] == str(tmp_path) and dur["preloaded"]
    warm_environment = Path(f"/proc/{warm._process.pid}/environ").read_bytes()
    assert b"VSAT_" not in warm_environment and b"a" * 64 not in warm_environment


def test_a_failing_command_gives_its_exit_code_and_its_message_and_the_next_one_still_runs(warm, tmp_path):
    script = tmp_path / "show.py"
    script.write_text(SHOW)
    out, err = tmp_path / "x.out", tmp_path / "x.err"
    assert warm.run([script, "--fail"], _env(FORCE="DUR"), tmp_path, out, err) == 1
    assert err.read_text().strip().endswith("the force's run stopped: bad row 7")
    crash = tmp_path / "crash.py"
    crash.write_text("import os\nos.kill(os.getpid(), 9)\n")
    assert warm.run([crash], _env(), tmp_path, out, err) == -9
    assert warm.run([script], _env(FORCE="CUM"), tmp_path, out, err) == 0


def _national():
    """scripts/national.py, imported as the bench imports it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import national
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return national


def test_forces_run_together_share_the_cores_between_their_duckdb_threads():
    national = _national()
    cores = len(os.sched_getaffinity(0))
    assert [national.threads_per_force(w) for w in (1, cores, cores * 3)] == [cores, 1, 1]
    assert national.threads_per_force(2) == max(1, cores // 2)


def test_a_national_force_failure_names_the_force_and_its_log(tmp_path):
    national = _national()
    script = tmp_path / "show.py"
    script.write_text(SHOW)
    data = tmp_path / "forces" / "CLE"
    with national.ForceProcesses("floor", 1) as processes:
        wall, stdout = processes.run("CLE", [script], data, "c" * 64, "run")
        env = json.loads(stdout)["env"]
        assert env["VSAT_FORCE"] == "CLE" and wall > 0
        assert env["VSAT_DUCKDB_THREADS"] == str(len(os.sched_getaffinity(0)))  # one force at a time: every core
        with pytest.raises(RuntimeError, match=r"force CLE: its run failed \(exit 1\): the force's run "
                                               r"stopped: bad row 7 \(log: .*forces/CLE/logs/run.err\)"):
            processes.run("CLE", [script, "--fail"], data, "c" * 64, "run")
