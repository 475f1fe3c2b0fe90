"""`make bench`: a financial year through the whole pipeline, with Dagster and on the bare engine.

For each scale it runs, each in a fresh data folder and its own process:

* dagster: the demo's flow through Dagster (monthly job over the year in one run,
  the contractor stand-in, the responses job, the annual job), in-process executor;
* floor:   the same SQL models and Python steps called directly against DuckDB,
  with no Dagster at all (no runs, events, checks or storage).

and prints wall time, peak memory (PSS) of the process tree, rows per second, time per
stage, the Dagster/floor ratio, and the code-location load time against
`import dagster` alone. The national scale is the per-force design (scripts/national.py):
the 43 forces each in their own processes, data folders and keys, then the national stage and
each force's comparison; on the floor and through Dagster two forces at a time, and through
Dagster one force after another; with its targets (issue 21) printed against the figures.

    .venv/bin/python scripts/bench.py                   # Durham and national scale (43 forces, per force)
    .venv/bin/python scripts/bench.py --scales national --national-forces DUR,CLE --national-volume 0.2
    .venv/bin/python scripts/bench.py --scales durham   # one scale
    .venv/bin/python scripts/bench.py --scales pooled   # the national volume in one warehouse (~6 min)
    .venv/bin/python scripts/bench.py --smoke           # a two-month miniature, for the test suite
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from vsat_assets import cli

ROOT = Path(__file__).resolve().parents[1]
SCALES = {
    "durham": {"scale": 1.0, "forces": 1},
    # The national volume (94 x Durham's) in one warehouse, one key and one set of runs: what
    # forces sharing runs and processes would cost, against the per-force national runs.
    "pooled": {"scale": 94.0, "forces": 1},
}
NATIONAL_WORKERS = 2  # forces at a time in the parallel national runs: the machine's 2 cores
YEAR = ("2025-04-01", "2026-03-01", "2025/26")
SMOKE = {"scale": 0.05, "forces": 1}
SMOKE_YEAR = ("2025-04-01", "2025-05-01", "2025/26")


# ---------------------------------------------------------------- the two ways to run a year
def run_dagster(scale: dict, first: str, last: str, until_extract: bool = False) -> dict:
    """The platform's named jobs, as the schedules and the sensor run them, at the bench's scale.
    `until_extract`: the annual job without the comparison and what reads it (a national run's
    first pass: they wait for the national figures)."""
    from dagster import AssetSelection, DagsterInstance, Definitions

    from vsat_assets.definitions import defs
    from vsat_assets.defs.raw_reports.assets import ReportSource

    # The code location with only the report source at the bench's scale.
    scaled = Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, executor=defs.executor,
                         resources={**defs.resources, "report_source": ReportSource(**scale)})
    stages = {}

    def run(job_name, **partitions):
        started = time.perf_counter()
        with DagsterInstance.ephemeral() as instance:
            result = scaled.resolve_job_def(job_name).execute_in_process(instance=instance, **partitions)
            assert result.success, f"{job_name} failed"
            for step in instance.get_run_step_stats(result.run_id):
                stages[step.step_key] = round(step.end_time - step.start_time, 2)
        stages[f"run:{job_name}"] = round(time.perf_counter() - started, 2)

    range_tags = {"tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}}
    run("monthly_survey_job", **range_tags)
    started = time.perf_counter()
    answer_handoffs()
    stages["contractor_stand_in"] = round(time.perf_counter() - started, 2)
    run("survey_responses_job", **range_tags)
    if until_extract:
        comparison = AssetSelection.assets(*COMPARISON_AND_READERS).resolve(scaled.resolve_asset_graph())
        annual = scaled.resolve_job_def("annual_satisfaction_job").asset_layer.selected_asset_keys
        run("annual_satisfaction_job", partition_key=first, asset_selection=[k for k in annual if k not in comparison])
    else:
        run("annual_satisfaction_job", partition_key=first)
    return stages


# What a national run builds only once the national figures are back (scripts/national.py).
COMPARISON_AND_READERS = ("comparator_figures", "satisfaction_comparison", "annual_report", "analytics_file")


def run_floor(scale: dict, first: str, last: str, until_extract: bool = False) -> dict:
    """The same work as the Dagster run, called in order on one DuckDB connection."""
    import duckdb

    from vsat_assets import settings
    from vsat_assets.defs.annual import disclosure, hmicfrs, report, tables, weighting
    from vsat_assets.defs.annual.config import AnnualSettings
    from vsat_assets.atomic import write_atomically
    from vsat_assets.defs.handoff.assets import HandoffSettings, hand_off_month
    from vsat_assets.partitions import months_in, next_month
    from vsat_assets.definitions import defs
    from vsat_assets.defs.publish.assets import analytics_path, extracts_path, publish
    from vsat_assets.defs.publish.dictionary import marts_documentation
    from vsat_assets.defs.raw_reports.assets import ReportSource, load_offences, load_reports
    from vsat_assets.resources import SurveySettings
    from vsat_assets.defs.responses.assets import ContractorInbox, ingest_month, prepare_tables
    from vsat_assets.defs.responses.returns import read_returns
    from vsat_assets.sql_project import PROJECT_DIR, prepare_connection
    from vsat_assets.sql_runner.build import build_model, run_test
    from vsat_assets.sql_runner.column_tests import tests_for
    from vsat_assets.sql_runner.models import discover_models
    from vsat_assets.warehouse import transaction

    start, end = date.fromisoformat(first), next_month(date.fromisoformat(last))
    year_start, year_end = start, date(start.year + 1, 4, 1)
    survey, annual, handoff = SurveySettings(), AnnualSettings(), HandoffSettings()
    variables = survey.model_vars()
    models = discover_models(PROJECT_DIR)
    stages = {}

    def timed(name, fn, *args, **kwargs):
        started = time.perf_counter()
        out = fn(*args, **kwargs)
        stages[name] = round(time.perf_counter() - started, 2)
        return out

    def sql(name):
        model = models[name]
        window = {"month": (start, end), "financial_year": (year_start, year_end)}.get(model.partitioned_by)
        build_model(conn, model, models, variables, window)
        for test in tests_for(model):
            run_test(conn, test, model, variables, window)

    conn = duckdb.connect(str(settings.warehouse_path()), config=settings.duckdb_config())
    prepare_connection(conn, settings.pseudonym_key()[0])
    timed("offence_catalogue", load_offences, conn)
    timed("raw_reports", load_reports, conn, ReportSource(**scale), start, end, tuple(survey.policing_areas),
          lambda message: None)
    for name in ("stg_reports", "report_volumes", "victim_eligibility", "eligible_victims", "sampling_frame",
                 "exclusion_audit", "sampled_cohort"):
        timed(name, sql, name)
    timed("contractor_handoff", lambda: [hand_off_month(conn, m, handoff) for m in months_in(start, end)])
    timed("contractor_stand_in", answer_handoffs, conn)

    def responses():
        prepare_tables(conn)
        files = {m: read_returns(ContractorInbox().inbox_dir(), m) for m in months_in(start, end)}
        with transaction(conn):
            for table in ("staging.survey_responses", "ops.returns_quarantine"):
                conn.execute(f"DELETE FROM {table} WHERE sampling_month >= ? AND sampling_month < ?", [start, end])
            for month, returned in files.items():
                ingest_month(conn, month, returned)

    timed("survey_responses", responses)
    for name in ("responses", "survey_funnel"):
        timed(name, sql, name)
    limits = annual.thresholds()
    timed("satisfaction_da_monthly", tables.write, conn, tables.DA_MONTHLY,
          tables.da_monthly_sql(limits, start, end), (start, end),
          prepare=lambda c: weighting.calibrate_da_months(c, start, end))
    timed("satisfaction_da_quarterly", tables.write, conn, tables.DA_QUARTERLY,
          tables.da_quarterly_sql(limits, start, end), (start, end))
    timed("response_weights", weighting.calibrate_year, conn, YEAR[2], year_start, year_end)
    timed("satisfaction_annual", tables.write, conn, tables.ANNUAL,
          tables.annual_sql(limits, year_start, year_end), (year_start, year_end),
          lambda c: disclosure.finalise_annual(c, year_start, year_end, limits))
    timed("satisfaction_gap", tables.write, conn, tables.GAP, tables.gap_sql(limits, year_start, year_end),
          (year_start, year_end), lambda c: disclosure.finalise_gap(c, year_start, year_end, limits))
    timed("satisfaction_rolling", tables.write, conn, tables.ROLLING, tables.rolling_sql(limits), None,
          prepare=weighting.calibrate_rolling)
    year = YEAR[2]
    timed("hmicfrs_export", lambda: hmicfrs.write_export(
        settings.data_dir() / "exports" / hmicfrs.export_name(year),
        hmicfrs.export_rows(conn, year, annual.force_code_for_hmicfrs)))
    if not until_extract:
        timed("annual_report", lambda: write_atomically(report.report_path(year), report.build_report(
            conn, year, year_start, survey.force_name, annual.suppress_threshold)[0]))
    from vsat_assets.defs.compare import national_extract

    timed("national_extract", lambda: national_extract.write_extract(
        settings.data_dir() / "exports" / national_extract.extract_name(year),
        national_extract.extract_rows(conn, year, annual.force_code_for_hmicfrs)))
    if not until_extract:
        timed("analytics_file", publish, conn, analytics_path(), marts_documentation(list(defs.assets)), extracts_path(date.today()))
    conn.close()
    return stages


def answer_handoffs(conn=None) -> None:
    """The stand-in answers from the planted truth; the harness reads profiles from raw.reports."""
    from vsat_assets import settings
    from vsat_assets.contractor_sim.forces import truth_for_force
    from vsat_assets.contractor_sim.profiles import handoff_survey_ids, profiles_from_reports
    from vsat_assets.contractor_sim.simulate import ContractorSettings, simulate_returns
    from vsat_assets.register import current_force

    handoffs = sorted((settings.data_dir() / "outbox").glob("handoff_*.csv"))
    profiles = profiles_from_reports(conn if conn is not None else settings.warehouse_path(),
                                     settings.pseudonym_key()[0], handoff_survey_ids(handoffs))
    contractor = ContractorSettings(truth=truth_for_force(current_force().code))  # the force's planted level
    for handoff in handoffs:
        simulate_returns(handoff, settings.data_dir() / "inbox", contractor, profiles=profiles)


# ---------------------------------------------------------------- measuring a child process
def _tree_memory_kb(pid: int) -> int:
    """The PSS of a process and all its descendants: each page shared between processes (a forked
    force process and the warm interpreter it came from) counted once, split among its sharers."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def measure(mode: str, scale: dict, year: tuple, keep: Path | None = None) -> dict:
    """Run one mode in a child process on a fresh data folder; wall time, peak memory, stages, rows."""
    with tempfile.TemporaryDirectory(prefix=f"vsat-bench-{mode}-") as scratch:
        data = str(keep / mode) if keep else scratch
        env = {**os.environ, "VSAT_DATA_DIR": data, "PYTHONWARNINGS": "ignore"}
        env.pop("DAGSTER_HOME", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a deployed code server: modules compiled once
        command = [sys.executable, __file__, "--child", mode, "--scale-json", json.dumps(scale),
                   "--year-json", json.dumps(year)]
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_memory_kb(child.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - started
        output = child.stdout.read()
        if child.returncode != 0:
            raise SystemExit(f"{mode} run failed (exit {child.returncode}); run it alone to see why:\n"
                             f"VSAT_DATA_DIR=$(mktemp -d) {' '.join(command)}")
        result = json.loads(output.strip().splitlines()[-1])
        return {"wall_s": wall, "peak_mb": peak / 1024, **result}


def child(mode: str, scale: dict, year: tuple, until_extract: bool = False) -> None:
    from vsat_assets import settings

    settings.data_dir().mkdir(parents=True, exist_ok=True)
    stages = (run_dagster if mode == "dagster" else run_floor)(scale, year[0], year[1], until_extract)
    import duckdb

    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        reports = conn.execute("SELECT count(*) FROM raw.reports").fetchall()[0][0]
    print(json.dumps({"stages": stages, "reports": reports}))


def load_times(repeats: int = 5) -> dict:
    """Median wall time of `import dagster` and of loading the code location, each in fresh
    interpreters. As a code server starts: bytecode cached (an untimed first round writes it).
    The two alternate, and the ratio is the median of each round's own ratio, so that other
    work on the machine weighs on both alike (the ratio of the two medians swung 1.14-1.40
    between three runs of one evening)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    codes = {"import_dagster_s": "import dagster", "code_location_s": "import vsat_assets.definitions"}
    times: dict[str, list[float]] = {name: [] for name in codes}
    for attempt in range(repeats + 1):
        for name, code in codes.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if attempt:
                times[name].append(time.perf_counter() - started)
    dagster, location = (statistics.median(times[name]) for name in codes)
    ratios = [loc / dag for dag, loc in zip(times["import_dagster_s"], times["code_location_s"])]
    return {"import_dagster_s": dagster, "code_location_s": location, "ratio": statistics.median(ratios),
            "ratio_range": (min(ratios), max(ratios)), "repeats": repeats}


# ---------------------------------------------------------------- the national run, per force
class PeakMemory:
    """Peak memory (PSS) of this process's children (every force's process), sampled every 0.1 s."""

    def __enter__(self):
        import threading

        self.peak_kb, self._done = 0, threading.Event()
        own = _tree_memory_kb(os.getpid())

        def sample():
            while not self._done.wait(0.1):
                self.peak_kb = max(self.peak_kb, _tree_memory_kb(os.getpid()) - own)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def run_national_bench(args) -> dict:
    """The per-force national run once per (mode, forces at a time) of --national-runs."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import national
    from vsat_assets.register import forces

    codes = [c for c in args.national_forces.split(",") if c] or list(forces())
    out = {}
    for run in args.national_runs.split(","):
        mode, workers = run.split(":")
        print(f"[national] {len(codes)} forces, {mode}, {workers} at a time …", flush=True)
        with tempfile.TemporaryDirectory(prefix="vsat-bench-national-") as root, PeakMemory() as memory:
            out[(mode, int(workers))] = national.run_national_synthetic(
                Path(root), codes, args.national_volume, args.national_months, mode, int(workers))
        out[(mode, int(workers))]["peak_mb"] = memory.peak_kb / 1024
    return out


NATIONAL_FLOOR_TARGET_S = 60  # issue 21: the national floor in at most a minute on 2 cores
DAGSTER_TARGET = 1.25          # and the Dagster run within 1.25 x the floor, in the same bench run
MEMORY_TARGET_MB = 2048


def print_national(runs: dict, durham: dict | None) -> None:
    if not runs:
        return
    first = next(iter(runs.values()))
    print(f"\nnational, per force ({len(first['per_force'])} forces in their own processes, "
          f"{first['reports']:,} reports):")
    print("(threads: each force's DuckDB threads, its share of the cores)")
    print(f"{'mode':8} {'at a time':>9} {'forces s':>9} {'national s':>10} {'compare s':>10} {'wall s':>8} "
          f"{'peak MB':>8} {'threads':>7}")
    for (mode, workers), r in runs.items():
        print(f"{mode:8} {workers:>9} {r['forces_wall_s']:>9.1f} {r['national_stage_s']:>10.1f} "
              f"{r['compare_wall_s']:>10.1f} {r['wall_s']:>8.1f} {r['peak_mb']:>8.0f} "
              f"{r['duckdb_threads_per_force']:>7}")
    for mode in ("floor", "dagster"):
        serial, parallel = runs.get((mode, 1)), runs.get((mode, NATIONAL_WORKERS))
        if serial and parallel:
            print(f"  {mode}: {NATIONAL_WORKERS} forces at a time against one after another: "
                  f"x{serial['wall_s'] / parallel['wall_s']:.2f} faster on {os.cpu_count()} cores")
    floor, dagster = runs.get(("floor", NATIONAL_WORKERS)), runs.get(("dagster", NATIONAL_WORKERS))
    if floor:
        verdict = "within" if floor["wall_s"] <= NATIONAL_FLOOR_TARGET_S else "OVER"
        print(f"  national floor {floor['wall_s']:.1f} s ({verdict} the {NATIONAL_FLOOR_TARGET_S} s target)")
    if floor and dagster:
        ratio = dagster["wall_s"] / floor["wall_s"]
        print(f"  national Dagster / floor = {ratio:.2f} ({'within' if ratio <= DAGSTER_TARGET else 'OVER'} "
              f"the {DAGSTER_TARGET} target)")
    peak = max(r["peak_mb"] for r in runs.values())
    print(f"  national peak memory {peak:,.0f} MB ({'under' if peak < MEMORY_TARGET_MB else 'OVER'} "
          f"{MEMORY_TARGET_MB} MB)")
    if floor and durham:
        volume, time_ratio = floor["reports"] / durham["reports"], floor["wall_s"] / durham["wall_s"]
        print(f"  {volume:.0f} x Durham's volume in {time_ratio:.1f} x Durham's floor time "
              f"(target: 100 x the volume in at most 10 x the time)")
    print_stage_sums(runs)


CHECKS = "checks (Dagster only)"
PROCESS = "start, imports, runs and events"
COMPARE = "comparison (second process)"


def print_stage_sums(runs: dict) -> None:
    """Each stage's seconds summed over the forces: where the national run's work goes. A Dagster
    step that is neither an asset's nor a floor stage is a check; what a force's wall time has
    beyond its steps is its process: interpreter, imports and, through Dagster, its runs and events."""
    from vsat_assets.definitions import defs

    floor_stages = {s for (mode, _), r in runs.items() if mode == "floor" for t in r["per_force"] for s in t["stages"]}
    # an asset's step key is its key's path joined by "__"; the stand-in is timed by run_dagster itself
    floor_stages |= {"__".join(key.path) for key in defs.resolve_asset_graph().get_all_asset_keys()}
    floor_stages.add("contractor_stand_in")
    totals = {key: {} for key in runs}
    for key, r in runs.items():
        for timing in r["per_force"]:
            steps = {s: v for s, v in timing["stages"].items() if not s.startswith("run:")}
            for stage, seconds in steps.items():
                name = stage if stage in floor_stages or key[0] == "floor" else CHECKS
                totals[key][name] = totals[key].get(name, 0.0) + seconds
            for name, seconds in ((PROCESS, timing["wall_s"] - sum(steps.values())), (COMPARE, timing["compare_s"])):
                totals[key][name] = totals[key].get(name, 0.0) + seconds
    names = [s for s in next(iter(totals.values())) if s not in (CHECKS, PROCESS, COMPARE)]
    names += [s for stages in totals.values() for s in stages if s not in names and s not in (CHECKS, PROCESS, COMPARE)]
    print("\n  national, each stage summed over the forces (s):")
    print(f"  {'stage':32}" + "".join(f"{f'{m}/{w}':>12}" for m, w in runs))
    for stage in names + [CHECKS, PROCESS, COMPARE]:
        print(f"  {stage[:32]:32}" + "".join(f"{totals[k][stage]:>12.1f}" if stage in totals[k] else f"{'':>12}"
                                            for k in runs))


# ---------------------------------------------------------------- report
LOAD_TARGET = 1.3  # issue 14: the code location loads in at most 1.3 x `import dagster`


def print_load(loads: dict) -> None:
    verdict = "within" if loads["ratio"] <= LOAD_TARGET else "OVER"
    print(f"code location load {loads['code_location_s']:.2f} s vs import dagster {loads['import_dagster_s']:.2f} s: "
          f"ratio {loads['ratio']:.2f} ({verdict} the {LOAD_TARGET} target; median of {loads['repeats']} round{'s' * (loads['repeats'] != 1)} of "
          f"fresh interpreters, each round's ratio {loads['ratio_range'][0]:.2f}-{loads['ratio_range'][1]:.2f})")


def main() -> None:
    parser = cli.parser("scripts/bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="durham,national",
                        help="comma-separated: durham, national (per force), pooled (the national volume in one "
                             "warehouse; not run by default)")
    parser.add_argument("--national-forces", default="", help="register codes of the national run (default all 43)")
    parser.add_argument("--national-volume", type=float, default=1.0, help="each force's size (1 = real)")
    parser.add_argument("--national-months", type=int, default=12)
    parser.add_argument("--national-runs", default=f"floor:{NATIONAL_WORKERS},dagster:1,dagster:{NATIONAL_WORKERS}",
                        help="mode:forces-at-a-time of each national run (default: the floor and Dagster "
                             "two at a time, and Dagster one after another)")
    parser.add_argument("--smoke", action="store_true", help="two months at 5%% of Durham: checks the bench runs")
    parser.add_argument("--keep", type=Path, help="keep each mode's data folder under this folder")
    parser.add_argument("--load-only", action="store_true",
                        help="only the code-location load against `import dagster` (make bench-load)")
    parser.add_argument("--load-rounds", type=int,
                        help="rounds of the load measurement (default 5; 2 with --smoke)")
    parser.add_argument("--child", choices=("dagster", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--scale-json", help=argparse.SUPPRESS)
    parser.add_argument("--year-json", help=argparse.SUPPRESS)
    parser.add_argument("--until-extract", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_rounds is None:
        args.load_rounds = 2 if args.smoke else 5
    elif args.load_rounds < 1:
        parser.error(f"--load-rounds must be at least 1, not {args.load_rounds}")
    if args.child:
        child(args.child, json.loads(args.scale_json), tuple(json.loads(args.year_json)), args.until_extract)
        return
    if args.load_only:
        print_load(load_times(args.load_rounds))
        return

    wanted = args.scales.split(",")
    if unknown := [name for name in wanted if name not in SCALES and name != "national"]:
        parser.error(f"unknown scale {', '.join(unknown)}: choose from {', '.join([*SCALES, 'national'])}")
    runs = {"smoke": (SMOKE, SMOKE_YEAR)} if args.smoke else {name: (SCALES[name], YEAR) for name in wanted
                                                            if name in SCALES}
    if args.smoke:  # the national run's miniature: two forces, a month, a twentieth of their size
        args.national_forces, args.national_volume, args.national_months = "DUR,CLE", 0.05, 1
        args.national_runs = f"floor:1,floor:{NATIONAL_WORKERS},dagster:{NATIONAL_WORKERS}"
    national_runs = run_national_bench(args) if args.smoke or "national" in wanted else {}
    results = {}
    for name, (scale, year) in runs.items():
        for mode in ("floor", "dagster"):
            print(f"[{name}] {mode} …", flush=True)
            results[(name, mode)] = measure(mode, scale, year, args.keep)
    loads = load_times(args.load_rounds)

    print(f"\nmachine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"python {sys.version.split()[0]}")
    print(f"{'scale':10} {'mode':8} {'reports':>10} {'wall s':>8} {'rows/s':>10} {'peak MB':>8}")
    for (name, mode), r in results.items():
        print(f"{name:10} {mode:8} {r['reports']:>10,} {r['wall_s']:>8.1f} {r['reports'] / r['wall_s']:>10,.0f} "
              f"{r['peak_mb']:>8.0f}")
    print()
    for name in runs:
        floor, dagster = results[(name, "floor")], results[(name, "dagster")]
        print(f"{name}: Dagster / engine floor = {dagster['wall_s'] / floor['wall_s']:.2f} (wall time)")
    durham = results.get(("durham", "floor"))
    print_national(national_runs, durham)
    print_load(loads)
    print("\ntime per stage (s):")
    stage_names = []
    for r in results.values():
        stage_names += [s for s in r["stages"] if s not in stage_names]
    header = "".join(f"{f'{n[:8]}/{m[:5]}':>16}" for n, m in results)
    print(f"{'stage':28}{header}")
    for stage in stage_names:
        print(f"{stage[:28]:28}" + "".join(f"{r['stages'].get(stage, ''):>16}" for r in results.values()))


if __name__ == "__main__":
    cli.run(main, "scripts/bench.py")
