"""The locked environment: uv.lock matches pyproject.toml and .venv holds exactly the lock.

`make install` runs `uv sync --locked`, which refuses a stale lock; these tests say so
earlier and without the network, so a pyproject.toml edited without `make lock` fails CI.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"


def uv(*args: str, cwd: Path = ROOT, cache: Path | None = None) -> subprocess.CompletedProcess:
    assert UV.exists(), f"{UV} missing: `make install` installs uv from the dev extra"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(Path(sys.prefix))}
    if cache is not None:
        env["UV_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [str(UV), *args, "--offline"], cwd=cwd, env=env, capture_output=True, text=True
    )


def locked_versions() -> dict[str, list[str]]:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    versions: dict[str, list[str]] = {}
    for package in packages:
        versions.setdefault(package["name"], []).append(package.get("version"))
    return versions


def test_lock_matches_pyproject(tmp_path):
    # An empty cache, as on a machine that has never run uv: the check must not need one.
    result = uv("lock", "--check", cache=tmp_path / "uv-cache")
    assert result.returncode == 0, (
        "uv.lock is out of date with pyproject.toml: run `make lock` and commit uv.lock\n"
        + result.stderr
    )


def test_lock_check_refuses_a_dependency_dropped_from_pyproject(tmp_path):
    """A pyproject.toml edited without `make lock` is refused, even with an empty uv cache.

    uv compares the lock's recorded requirements with pyproject.toml before anything else;
    offline with no cache it then cannot re-resolve, and says so instead of "needs to be
    updated". Either answer means the stale lock was refused; a pass would be the defect.
    """
    shutil.copy(ROOT / "uv.lock", tmp_path / "uv.lock")
    pyproject = (ROOT / "pyproject.toml").read_text()
    dropped = '    "paramiko>=3.5,<6",\n'
    assert dropped in pyproject
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(dropped, ""))
    result = uv("lock", "--check", cwd=tmp_path, cache=tmp_path / "uv-cache")
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr or "network was disabled" in result.stderr, result.stderr


def test_locked_requirements_are_pyproject_s():
    """The lock records exactly pyproject's requirements (what `uv lock --check` compares first)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_requirement_name(r) for r in project["dependencies"]}
    wanted |= {_requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    vsat = next(p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"] if p["name"] == "vsat")
    recorded = {r["name"] for r in vsat["metadata"]["requires-dist"]}
    assert recorded == wanted, f"run `make lock`: only in pyproject {wanted - recorded}, only in uv.lock {recorded - wanted}"


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_environment_is_exactly_the_lock():
    result = uv("sync", "--locked", "--extra", "dev", "--check")
    # The project itself is installed editable: uv wants it rebuilt whenever pyproject.toml's
    # mtime moves (a rebase); what matters here is every other package.
    changes = [line.strip() for line in result.stderr.splitlines() if line.startswith((" - ", " + ", " ~ "))]
    others = [line for line in changes if not line[2:].startswith("vsat")]
    assert result.returncode == 0 or (changes and not others), "run `make install`:\n" + result.stderr


def test_locked_duckdb_versions_are_the_readme_s():
    """The pipeline writes with duckdb 2.0.x; analysts read with the 1.5 shell (docs/developing.md)."""
    versions = locked_versions()
    assert [v.rsplit(".", 1)[0] for v in versions["duckdb"]] == ["2.0"]
    assert [v.rsplit(".", 1)[0] for v in versions["duckdb-cli"]] == ["1.5"]
