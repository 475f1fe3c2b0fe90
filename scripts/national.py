"""A national run of the synthetic data through the per-force design (docs/national.md).

Every force runs its financial year, up to its national extract, in its own process, on its own
data folder (`<root>/forces/<CODE>`: its own DuckDB, outbox, inbox, exports, logs) and its own
pseudonym key (a fresh secret per force, passed only to that force's process), with its own areas
and planted level of satisfaction. It then "publishes": its national extract (aggregate figures
only) is copied to `<root>/national/published/<CODE>/`. The national stage reads only that folder,
and writes each force's comparator file (E&W and its most similar group), which goes back to the
force's own comparator folder; each force then builds its comparison, report and analysts' file,
in a second process of its own, against the national figures. The force processes are forked from
warm interpreters that have imported the libraries once (vsat_assets.warm_fork) and never see a key.

    .venv/bin/python scripts/national.py --root DIR                       # 43 forces, real sizes, a year
    .venv/bin/python scripts/national.py --root DIR --forces DUR,CLE,CUM --volume 0.05 --months 2
    .venv/bin/python scripts/national.py --root DIR --workers 2           # two forces at a time

`--volume` scales every force's size: 1 = its population's share of volume at Durham's rate
(Durham at its own size, about 93 x Durham for the 43 forces together).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsat_assets import cli  # noqa: E402
from vsat_assets.national.stage import comparators_dir  # noqa: E402
from vsat_assets.register import force, forces  # noqa: E402
from vsat_assets.warm_fork import WarmInterpreter  # noqa: E402

BENCH = ROOT / "scripts" / "bench.py"
YEAR_START, FINANCIAL_YEAR = "2025-04-01", "2025/26"


def force_scale(code: str, volume: float) -> float:
    """The generator's scale of a force: its population against Durham's, times `volume`."""
    return volume * force(code).population / force("DUR").population


def last_month(months: int) -> str:
    year, month = 2025, 4 + months - 1
    return f"{year + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}-01"


# What each force's processes import before they know their force: forked from a warm interpreter
# (vsat_assets.warm_fork), so that 86 processes do not each import them again. Great Expectations
# only where Dagster's checks run.
PRELOAD = {"floor": ("duckdb", "numpy", "pandas", "polars", "dagster"),
           "dagster": ("duckdb", "numpy", "pandas", "polars", "dagster", "great_expectations")}


def _plain_env() -> dict:
    """This process's environment without any VSAT setting, Dagster home or PYTHONDONTWRITEBYTECODE:
    each of the run's processes would otherwise compile every module again, seconds each, where a
    deployed code server has its bytecode."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("VSAT_", "DAGSTER_HOME")) and k != "PYTHONDONTWRITEBYTECODE"}


def _force_env(code: str, data: Path, key: str, threads: int) -> dict:
    """The force's process environment: its own folder, force, key and share of the cores,
    nothing of another force."""
    return {**_plain_env(), "VSAT_DATA_DIR": str(data), "VSAT_FORCE": code, "VSAT_PROFILE": "demo",
            "VSAT_PSEUDONYM_KEY": key, "VSAT_DUCKDB_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}


def threads_per_force(workers: int) -> int:
    """DuckDB threads for each of `workers` forces at a time: their share of this machine's cores
    (at least 1). DuckDB's default, a thread per core in every process, made two forces on two
    cores wait on each other: the national floor 4-7 % slower (BENCHMARKS.md)."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


class ForceProcesses:
    """`workers` warm interpreters; `run` takes a free one, forks the force's process from it and
    gives it back. Each force's process is its own, with its key; the warm ones never see a key."""

    def __init__(self, mode: str, workers: int):
        self._warm = [WarmInterpreter(PRELOAD[mode], {**_plain_env(), "PYTHONWARNINGS": "ignore"})
                      for _ in range(workers)]
        self._free: queue.Queue = queue.Queue()
        self.threads = threads_per_force(workers)

    def __enter__(self) -> ForceProcesses:
        for warm in self._warm:
            self._free.put(warm.__enter__())
        return self

    def __exit__(self, *exc) -> None:
        for warm in self._warm:
            warm.__exit__(*exc)

    def run(self, code: str, argv: list, data: Path, key: str, what: str) -> tuple[float, str]:
        """The force's `what` (a Python command) in its own process; (wall time, its stdout).
        Its output is kept in `<data>/logs/`; a failure names the force and the log."""
        logs = data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out, err = logs / f"{what}.out", logs / f"{what}.err"
        warm = self._free.get()
        started = time.perf_counter()
        try:
            returncode = warm.run(argv, _force_env(code, data, key, self.threads), ROOT, out, err)
        finally:
            self._free.put(warm)
        wall = time.perf_counter() - started
        if returncode != 0:
            tail = err.read_text(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
            raise RuntimeError(f"force {code}: its {what} failed (exit {returncode}): {tail[0]} (log: {err})")
        print(f"[national] {code}: {what} done in {wall:.1f} s", file=sys.stderr, flush=True)
        return wall, out.read_text()


def run_force(processes: ForceProcesses, code: str, root: Path, volume: float, months: int, mode: str,
              key: str) -> dict:
    """One force's year in a process of its own; then its extract published. Returns its timing."""
    data = root / "forces" / code
    data.mkdir(parents=True, exist_ok=True)
    scale = {"scale": force_scale(code, volume), "forces": 1, "force": code}
    command = [BENCH, "--child", mode, "--scale-json", json.dumps(scale),
               "--year-json", json.dumps([YEAR_START, last_month(months), FINANCIAL_YEAR]), "--until-extract"]
    wall, stdout = processes.run(code, command, data, key, "run")
    published = root / "national" / "published" / code
    published.mkdir(parents=True, exist_ok=True)
    for extract in sorted((data / "exports").glob("national_vsat_*.csv")):
        shutil.copy2(extract, published / extract.name)
    outcome = json.loads(stdout.strip().splitlines()[-1])
    return {"force": code, "wall_s": wall, "reports": outcome["reports"], "stages": outcome["stages"]}


def compare_force(processes: ForceProcesses, code: str, root: Path, mode: str, key: str) -> float:
    """The national stage's comparator file into the force's own comparator folder, then the force's
    comparison (and what reads it) again, in its own process. Returns its wall time."""
    data = root / "forces" / code
    inbox = data / "comparators"
    inbox.mkdir(parents=True, exist_ok=True)
    for path in sorted((comparators_dir(root / "national") / code).glob("*.csv")):
        shutil.copy2(path, inbox / path.name)
    return processes.run(code, [Path(__file__).resolve(), "--compare-child", mode], data, key, "comparison")[0]


def compare_child(mode: str) -> None:
    """In the force's process: comparator_figures, satisfaction_comparison, the report and the
    analysts' file for the year, through its code location (dagster) or called directly (floor)."""
    if mode == "dagster":
        from dagster import AssetSelection, DagsterInstance

        from vsat_assets.definitions import defs

        selection = AssetSelection.assets("comparator_figures").downstream() - AssetSelection.assets("pcc_quarterly_pack")
        keys = list(selection.resolve(defs.resolve_asset_graph()))
        with DagsterInstance.ephemeral() as instance:
            result = defs.resolve_job_def("annual_satisfaction_job").execute_in_process(
                instance=instance, partition_key=YEAR_START, asset_selection=keys)
        if not result.success:
            raise SystemExit("the comparison run failed")
        return
    compare_floor()


def compare_floor() -> None:
    from datetime import date

    import duckdb

    from vsat_assets import settings
    from vsat_assets.atomic import write_atomically
    from vsat_assets.definitions import defs
    from vsat_assets.defs.annual import report
    from vsat_assets.defs.annual.config import AnnualSettings
    from vsat_assets.defs.compare import files, mart
    from vsat_assets.defs.publish.assets import analytics_path, extracts_path, publish
    from vsat_assets.defs.publish.dictionary import marts_documentation
    from vsat_assets.resources import SurveySettings

    annual, start = AnnualSettings(), date.fromisoformat(YEAR_START)
    end = date(start.year + 1, 4, 1)
    figures = files.read_comparator_folder(settings.comparator_dir())
    with duckdb.connect(str(settings.warehouse_path()), config=settings.duckdb_config()) as conn:
        files.store(conn, figures)
        mart.write(conn, start, end, annual.force_code_for_hmicfrs, annual.low_base_threshold,
                   annual.suppress_threshold)
        write_atomically(report.report_path(FINANCIAL_YEAR), report.build_report(
            conn, FINANCIAL_YEAR, start, SurveySettings().force_name, annual.suppress_threshold)[0])
        publish(conn, analytics_path(), marts_documentation(list(defs.assets)), extracts_path(date.today()))


def run_national_synthetic(root: Path, codes: list[str], volume: float = 1.0, months: int = 12,
                           mode: str = "floor", workers: int = 1) -> dict:
    """Every force (`workers` at a time), then the national stage. Returns timings and the stage's result."""
    from vsat_assets.national.stage import run_national

    keys = {code: secrets.token_hex(32) for code in codes}  # each only ever in its own force's process
    started = time.perf_counter()
    with ForceProcesses(mode, workers) as processes, ThreadPoolExecutor(max_workers=workers) as pool:
        per_force = list(pool.map(lambda c: run_force(processes, c, root, volume, months, mode, keys[c]), codes))
        forces_wall = time.perf_counter() - started
        national_started = time.perf_counter()
        result = run_national(root / "national")
        national_wall = time.perf_counter() - national_started
        compare_started = time.perf_counter()
        compare_walls = list(pool.map(lambda c: compare_force(processes, c, root, mode, keys[c]), codes))
    for timing, compare_wall in zip(per_force, compare_walls):
        timing["compare_s"] = compare_wall
    return {"forces_wall_s": forces_wall, "national_stage_s": national_wall,
            "compare_wall_s": time.perf_counter() - compare_started,
            "wall_s": time.perf_counter() - started, "duckdb_threads_per_force": processes.threads,
            "per_force": per_force,
            "reports": sum(f["reports"] for f in per_force), "national": result}


def main() -> None:
    parser = cli.parser("scripts/national.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="folder of the run (forces/ and national/)")
    parser.add_argument("--forces", default="", help="comma-separated register codes (default all 43)")
    parser.add_argument("--volume", type=float, default=1.0)
    parser.add_argument("--months", type=int, default=12, choices=range(1, 13))
    parser.add_argument("--mode", choices=("floor", "dagster"), default="floor",
                        help="each force's run: the bare engine, or its code location's jobs")
    parser.add_argument("--workers", type=int, default=1, help="forces run at a time")
    parser.add_argument("--compare-child", choices=("floor", "dagster"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare_child:
        compare_child(args.compare_child)
        return
    if args.root is None:
        parser.error("the following arguments are required: --root")
    codes = [c.strip() for c in args.forces.split(",") if c.strip()] or list(forces())
    for code in codes:
        force(code)  # an unknown code stops here, naming the register
    result = run_national_synthetic(args.root, codes, args.volume, args.months, args.mode, args.workers)
    print(json.dumps({k: v for k, v in result.items() if k != "per_force"}, indent=1))


if __name__ == "__main__":
    cli.run(main, "scripts/national.py")
