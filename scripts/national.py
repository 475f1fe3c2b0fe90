"""A national run of the synthetic data through the per-force design (docs/national.md).

Every force runs its financial year in its own process, on its own data folder
(`<root>/forces/<CODE>`: its own DuckDB, outbox, inbox, exports) and its own pseudonym key
(a fresh secret per force, passed only to that force's process), with its own areas and planted
level of satisfaction. It then "publishes": its national extract (aggregate figures only) is
copied to `<root>/national/published/<CODE>/`. The national stage reads only that folder.

    .venv/bin/python scripts/national.py --root DIR                       # 43 forces, real sizes, a year
    .venv/bin/python scripts/national.py --root DIR --forces DUR,CLE,CUM --volume 0.05 --months 2
    .venv/bin/python scripts/national.py --root DIR --workers 2           # two forces at a time

`--volume` scales every force's size: 1 = its population's share of volume at Durham's rate
(Durham at its own size, about 93 x Durham for the 43 forces together).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsat_assets import cli  # noqa: E402
from vsat_assets.register import force, forces  # noqa: E402

BENCH = ROOT / "scripts" / "bench.py"
YEAR_START = "2025-04-01"


def force_scale(code: str, volume: float) -> float:
    """The generator's scale of a force: its population against Durham's, times `volume`."""
    return volume * force(code).population / force("DUR").population


def last_month(months: int) -> str:
    year, month = 2025, 4 + months - 1
    return f"{year + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}-01"


def run_force(code: str, root: Path, volume: float, months: int, mode: str) -> dict:
    """One force's year in a process of its own; then its extract published. Returns its timing."""
    data = root / "forces" / code
    data.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSAT_", "DAGSTER_HOME"))}
    env.update({"VSAT_DATA_DIR": str(data), "VSAT_FORCE": code, "VSAT_PROFILE": "demo",
                "VSAT_PSEUDONYM_KEY": secrets.token_hex(32), "PYTHONWARNINGS": "ignore"})
    scale = {"scale": force_scale(code, volume), "forces": 1, "force": code}
    command = [sys.executable, str(BENCH), "--child", mode, "--scale-json", json.dumps(scale),
               "--year-json", json.dumps([YEAR_START, last_month(months), "2025/26"])]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise RuntimeError(f"force {code}: its run failed (exit {done.returncode}): {tail[0]}")
    published = root / "national" / "published" / code
    published.mkdir(parents=True, exist_ok=True)
    for extract in sorted((data / "exports").glob("national_vsat_*.csv")):
        shutil.copy2(extract, published / extract.name)
    reports = json.loads(done.stdout.strip().splitlines()[-1])["reports"]
    return {"force": code, "wall_s": wall, "reports": reports}


def run_national_synthetic(root: Path, codes: list[str], volume: float = 1.0, months: int = 12,
                           mode: str = "floor", workers: int = 1) -> dict:
    """Every force (`workers` at a time), then the national stage. Returns timings and the stage's result."""
    from vsat_assets.national.stage import run_national

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        per_force = list(pool.map(lambda c: run_force(c, root, volume, months, mode), codes))
    forces_wall = time.perf_counter() - started
    national_started = time.perf_counter()
    result = run_national(root / "national")
    return {"forces_wall_s": forces_wall, "national_stage_s": time.perf_counter() - national_started,
            "wall_s": time.perf_counter() - started, "per_force": per_force,
            "reports": sum(f["reports"] for f in per_force), "national": result}


def main() -> None:
    parser = cli.parser("scripts/national.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="folder of the run (forces/ and national/)")
    parser.add_argument("--forces", default="", help="comma-separated register codes (default all 43)")
    parser.add_argument("--volume", type=float, default=1.0)
    parser.add_argument("--months", type=int, default=12, choices=range(1, 13))
    parser.add_argument("--mode", choices=("floor", "dagster"), default="floor",
                        help="each force's run: the bare engine, or its code location's jobs")
    parser.add_argument("--workers", type=int, default=1, help="forces run at a time")
    args = parser.parse_args()
    codes = [c.strip() for c in args.forces.split(",") if c.strip()] or list(forces())
    for code in codes:
        force(code)  # an unknown code stops here, naming the register
    result = run_national_synthetic(args.root, codes, args.volume, args.months, args.mode, args.workers)
    print(json.dumps({k: v for k, v in result.items() if k != "per_force"}, indent=1))


if __name__ == "__main__":
    cli.run(main, "scripts/national.py")
