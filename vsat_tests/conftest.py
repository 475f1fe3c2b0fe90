"""Shared fixtures for the VSAT tests: a temporary warehouse, resources, Dagster runs, fake exports.

Everything here works on `tmp_path` and an ephemeral Dagster instance, so tests never
touch `./data`, `$DAGSTER_HOME` or the developer's warehouse. The data is small (a
generator month at `SMALL_SCALE` is ~150 reports) so a full month run takes well under
a second once Dagster is imported.

Fixtures (see each docstring):

- `tmp_warehouse`      DuckDBResource on `<tmp>/warehouse.duckdb`
- `drop_dir`           an empty export drop folder `<tmp>/drop`
- `make_resources`     factory for the resources dict, like `definitions.resources()`
- `resources`          that dict for the built-in generator at SMALL_SCALE
- `export_resources`   that dict reading exports from `drop_dir`
- `dagster_instance`   an ephemeral DagsterInstance, closed after the test
- `materialize_vsat`   run the project's assets for one partition or a partition range
- `warehouse_rows`     rows of a warehouse query, as a sorted list of tuples
- `export_writer`      writes small, valid (or deliberately broken) export CSVs
- `failure_messages`   the error messages of a failed run's steps, causes included
- `run_log_text`       every event-log record of a run, stringified (for privacy scans)
- `demo_clone`         one run of `make demo`'s code, small, in a directory laid out like a clone after `make demo`
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, materialize
from dagster_duckdb import DuckDBResource

from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.handoff.assets import HandoffSettings
from vsat_assets.defs.handoff.sftp import ContractorSftp
from vsat_assets.partitions import next_month
from vsat_assets.defs.raw_reports.assets import ReportSource
from vsat_assets.defs.raw_reports.schema import REPORT_COLUMNS
from vsat_assets.resources import SurveySettings
from vsat_assets.defs.responses.assets import ContractorInbox
from vsat_assets.warehouse import warehouse_resource

# The tests run in the demo profile, on the built-in pseudonym key, whatever the shell has set;
# tests of the key rules set their own environment with monkeypatch.
os.environ["VSAT_PROFILE"] = "demo"
for _name in ("VSAT_PSEUDONYM_KEY", "VSAT_PSEUDONYM_OLD_KEYS", "VSAT_CRASH_AT", "VSAT_TODAY", "VSAT_FORCE"):
    os.environ.pop(_name, None)

# ~62,000 reports a year at scale 1 -> about 150 a month here: enough rows for every check.
SMALL_SCALE = 0.03
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# Plainly fake personal details for export files (Ofcom drama mobile range 07700 900000-900999).
FAKE_FORENAMES = ("Testy", "Sample", "Dummy")
FAKE_SURNAMES = ("Example", "Placeholderson", "Fakebury")
# Offence codes from vsat_assets/defs/raw_reports/offences.csv, so the catalogue check passes.
FAKE_OFFENCES = (
    ("CRIME", "BURG_RES", "Burglary - residential"),
    ("CRIME", "VIOL_INJURY", "Violence with injury"),
    ("ASB", "ASB_PERSONAL", "ASB - personal"),
)


# --------------------------------------------------------------------- warehouse
@pytest.fixture
def tmp_warehouse(tmp_path: Path) -> DuckDBResource:
    """A DuckDBResource on a fresh file `<tmp_path>/warehouse.duckdb` (created on first use)."""
    return warehouse_resource(str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def warehouse_rows() -> Callable[..., list[tuple]]:
    """`warehouse_rows(warehouse, sql, params=None)` -> the query's rows as a sorted list of tuples.

    Opens and closes its own connection through the resource, so it can be called between
    runs. Sorting uses repr so that NULLs and mixed types compare.
    """

    def rows(warehouse: DuckDBResource, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
        with warehouse.get_connection() as conn:
            found = conn.execute(sql, params or []).fetchall()
        return sorted((tuple(r) for r in found), key=repr)

    return rows


# --------------------------------------------------------------------- resources
@pytest.fixture
def drop_dir(tmp_path: Path) -> Path:
    """An empty drop folder for export files, `<tmp_path>/drop`."""
    path = tmp_path / "drop"
    path.mkdir()
    return path


@pytest.fixture
def make_resources(tmp_path: Path, tmp_warehouse: DuckDBResource, drop_dir: Path) -> Callable[..., dict]:
    """Factory for the resources dict of `vsat_assets.definitions.resources()`, on temp paths.

    `make_resources(kind="generator", warehouse=None, **report_source_fields)`:
    `kind` is ReportSource.kind; `warehouse` is a file name inside tmp_path for a second,
    independent warehouse (default: the `tmp_warehouse` fixture's file); the remaining
    keywords go to ReportSource (the generator defaults to `scale=SMALL_SCALE`, exports to
    `drop_dir=<the drop_dir fixture>`).
    """

    def build(kind: str = "generator", warehouse: str | None = None, **source_fields) -> dict:
        if kind == "generator":
            source_fields.setdefault("scale", SMALL_SCALE)
        else:
            source_fields.setdefault("drop_dir", str(drop_dir))
        return {
            "warehouse": warehouse_resource(str(tmp_path / warehouse)) if warehouse else tmp_warehouse,
            "report_source": ReportSource(kind=kind, **source_fields),
            "survey": SurveySettings(),
            "handoff": HandoffSettings(outbox=str(tmp_path / "outbox")),
            "contractor_inbox": ContractorInbox(inbox=str(tmp_path / "inbox")),
            "contractor_sftp": ContractorSftp(),  # none: the local outbox and inbox are the exchange
            "annual": AnnualSettings(),
        }

    return build


@pytest.fixture
def resources(make_resources) -> dict:
    """Resources for a run on the built-in generator (SMALL_SCALE) and the `tmp_warehouse`."""
    return make_resources("generator")


@pytest.fixture
def export_resources(make_resources) -> dict:
    """Resources for a run reading export files from the `drop_dir` fixture into `tmp_warehouse`."""
    return make_resources("exports")


# ------------------------------------------------------------------------ runs
@pytest.fixture
def dagster_instance() -> Iterable[DagsterInstance]:
    """An ephemeral (in-memory) DagsterInstance shared by the runs of one test."""
    with DagsterInstance.ephemeral() as instance:
        yield instance


def _project_assets() -> list:
    """Every asset and standalone asset check of the code location."""
    # Imported lazily: loading the definitions costs a second or two, and not every test needs it.
    from vsat_assets.definitions import defs

    return [*defs.assets, *(defs.asset_checks or ())]


@pytest.fixture
def materialize_vsat(dagster_instance: DagsterInstance) -> Callable[..., ExecuteInProcessResult]:
    """Run the project's assets (`vsat_assets.definitions.defs`) on the test's ephemeral instance.

    `materialize_vsat(resources, partition=None, partition_range=None, selection=None,
    raise_on_error=False)`:

    - `partition`: one month key, e.g. '2023-04-01';
    - `partition_range`: (first, last) month keys, both included, run as one single-run
      backfill through the `dagster/asset_partition_range_start/end` tags (as `make demo`);
    - `selection`: asset names/keys to run, with their checks (default: every asset; the
      unpartitioned `offence_catalogue` must be in it, or already built, for raw_reports'
      checks). Select the stage a test is about: later stages need more data and time;
    - `raise_on_error`: False (default) returns a failed result instead of raising, so a
      test can read the failure event and the event log.
    """

    def run(
        resources: dict,
        partition: str | None = None,
        partition_range: tuple[str, str] | None = None,
        selection: Sequence[str | AssetKey] | None = None,
        raise_on_error: bool = False,
    ) -> ExecuteInProcessResult:
        if partition and partition_range:
            raise ValueError("give a partition or a partition range, not both")
        tags = None
        if partition_range:
            tags = {RANGE_START_TAG: partition_range[0], RANGE_END_TAG: partition_range[1]}
        return materialize(
            _project_assets(),
            resources=resources,
            instance=dagster_instance,
            partition_key=partition,
            tags=tags,
            selection=list(selection) if selection else None,
            raise_on_error=raise_on_error,
        )

    return run


def _failure_messages(result: ExecuteInProcessResult) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None:
                messages.append(error.message)
                error = error.cause
    return messages


@pytest.fixture
def failure_messages() -> Callable[[ExecuteInProcessResult], list[str]]:
    """`failure_messages(result)` -> the messages of every failed step's error and its causes.

    Outermost first: Dagster's 'Error occurred while executing op ...' wrapper, then the
    asset's own failure (e.g. 'Failure: reports_2023-04.csv line 4, column ...').
    """
    return _failure_messages


@pytest.fixture
def run_log_text(dagster_instance: DagsterInstance) -> Callable[[ExecuteInProcessResult], str]:
    """`run_log_text(result)` -> every record of the run's event log, plus the result's events, as text.

    Use it to assert that no personal value (name, phone, crime reference...) reached
    Dagster's event metadata, log messages or error messages.
    """

    def text(result: ExecuteInProcessResult) -> str:
        records = dagster_instance.all_logs(result.run_id)
        parts = [repr(r) for r in records] + [str(r.user_message) for r in records]
        parts += [repr(e) for e in result.all_events]
        return "\n".join(parts)

    return text


# --------------------------------------------------------------------- exports
class ExportWriter:
    """Builds and writes small export files for the records-system layout (REPORT_COLUMNS).

    `frame(month, rows)` is a valid export for the month with every column as text, as a
    records system would write it: fake names ('Testy Example'), phones in the 07700 900xxx
    drama range, crime references 'TST/C/YYYY-MM/00001' and person ids 'TST-P0000001'.
    `write(month, frame=None, rows=6, name=None, encoding='utf-8')` writes it as
    `reports_YYYY-MM.csv` (or `name`) into the drop folder and returns the path.
    """

    def __init__(self, directory: Path):
        self.directory = directory

    @staticmethod
    def frame(month: date, rows: int = 6, ref_prefix: str = "TST") -> pl.DataFrame:
        month = month.replace(day=1)
        days = (next_month(month) - month).days
        data: dict[str, list] = {name: [] for name in REPORT_COLUMNS}
        for i in range(rows):
            record_type, offence, description = FAKE_OFFENCES[i % len(FAKE_OFFENCES)]
            kind = "C" if record_type == "CRIME" else "A"
            values = {
                "force_code": "DUR",
                "crime_reference": f"{ref_prefix}/{kind}/{month:%Y-%m}/{i + 1:05d}",
                "report_date": (month + timedelta(days=(3 * i) % days)).isoformat(),
                "record_type": record_type,
                "offence_code": offence,
                "offence_description": description,
                "policing_area": ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")[i % 4],
                "victim_person_id": f"{ref_prefix}-P{month:%y%m}{i + 1:04d}",
                "victim_title": "Mx",
                "victim_forename": FAKE_FORENAMES[i % len(FAKE_FORENAMES)],
                "victim_surname": FAKE_SURNAMES[i % len(FAKE_SURNAMES)],
                "victim_date_of_birth": f"19{60 + i % 30}-0{1 + i % 9}-1{i % 10}",
                "victim_phone": f"07700 900{(123 + 7 * i + 31 * month.month) % 1000:03d}",
                "victim_ethnicity": "NOT_STATED",
                "is_organisation": "false",
                "police_on_duty": "N",
                "is_deceased": "0",
                "is_sensitive": "no",
                "is_domestic_abuse": "false",
                "safe_to_contact": "",
            }
            for name in REPORT_COLUMNS:
                data[name].append(values[name])
        return pl.DataFrame(data, schema={name: pl.String for name in REPORT_COLUMNS})

    def write(
        self,
        month: date,
        frame: pl.DataFrame | None = None,
        rows: int = 6,
        name: str | None = None,
        encoding: str = "utf-8",
    ) -> Path:
        frame = self.frame(month, rows) if frame is None else frame
        path = self.directory / (name or f"reports_{month:%Y-%m}.csv")
        text = frame.write_csv()
        path.write_bytes(text.encode(encoding))
        return path


@pytest.fixture
def export_writer(drop_dir: Path) -> ExportWriter:
    """An ExportWriter writing into the `drop_dir` fixture (see ExportWriter)."""
    return ExportWriter(drop_dir)


# ------------------------------------------------------------- a run to the hand-off, cached
TO_HANDOFF = (
    "offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility", "eligible_victims",
    "sampling_frame", "sampled_cohort", "contractor_handoff",
)


def copy_state(source: Path, target: Path) -> None:
    """Copy a test's warehouse, outbox and inbox to another folder."""
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    for folder in ("outbox", "inbox"):
        if (source / folder).exists():
            shutil.copytree(source / folder, target / folder, dirs_exist_ok=True)


def cached_state(tmp_path_factory, tmp_path: Path, name: str, build: Callable[[], None]) -> None:
    """Run `build` (which fills tmp_path) once per session; later tests get a copy of its result."""
    cache = tmp_path_factory.getbasetemp() / f"vsat-cache-{name}"
    if (cache / "done").exists():
        copy_state(cache, tmp_path)
        return
    build()
    cache.mkdir(exist_ok=True)
    copy_state(tmp_path, cache)
    (cache / "done").touch()


@pytest.fixture
def generator_handoffs(tmp_path, tmp_path_factory, resources, materialize_vsat) -> dict:
    """The generator's April and May 2025 run to the hand-off (one range run), in this test's
    tmp_path: `tmp_warehouse`, `<tmp>/outbox`. Built once per session, then copied."""

    def build() -> None:
        result = materialize_vsat(resources, partition_range=("2025-04-01", "2025-05-01"), selection=TO_HANDOFF)
        assert result.success

    cached_state(tmp_path_factory, tmp_path, "generator-2025-04-to-05-handoff", build)
    return resources


# ------------------------------------------------------------- order, for two workers
# The longest work goes first, so that under `make test` (pytest-xdist, --dist loadfile) one
# worker starts the years test while the other starts the demo's files, instead of either
# starting last and running alone. Same order in every worker (xdist requires it).
LONGEST_FIRST = ("test_years_of_operation.py", "test_readme_commands.py", "test_demo.py")
# Files that share a session fixture too costly to build twice (`demo_clone`, a minute or more):
# xdist keeps them on one worker, as if they were one file.
SHARED_SESSION_WORK = {"test_readme_commands.py": "demo_clone", "test_demo.py": "demo_clone"}


def pytest_collection_modifyitems(items) -> None:
    rest = len(LONGEST_FIRST)
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST else rest)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the files of SHARED_SESSION_WORK as one unit, and the units in
    collection order (xdist's default puts the files with most tests first, which started the
    one-test years file last)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return SHARED_SESSION_WORK.get(Path(path).name, path)

    config.option.loadscopereorder = False
    return SharedFixtureFileScheduling(config, log)


# March 2025 (2024/25) then April 2025 to March 2026 (2025/26): two years compared, the months the
# docs' examples use, the demo's date (1 April 2026) and both sides of its retention boundary.
DEMO_TEST_YEARS = (("2024/25", "2025-03-01", "2025-03-01"), ("2025/26", "2025-04-01", "2026-03-01"))
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the suite's own environment sets (make test, this conftest) that a user's shell after
# `make demo` does not have: the docs' commands run without them.
NOT_IN_A_USERS_SHELL = ("VSAT_DATA_DIR", "DAGSTER_HOME", "VSAT_PROFILE", "VSAT_TODAY", "VSAT_DROP_DIR",
                        "VSAT_REPORT_SOURCE", "VSAT_PSEUDONYM_KEY", "VSAT_PSEUDONYM_OLD_KEYS", "VSAT_CRASH_AT",
                        "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV")


def users_shell_env(**extra: str) -> dict[str, str]:
    """os.environ without what the suite sets, as in a fresh terminal in a clone."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_USERS_SHELL}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def demo_clone(tmp_path_factory) -> dict:
    """`make demo` as a user runs it, once per session: a directory holding the project's files (as
    symlinks) and its own `data/` (the demo's VSAT_DATA_DIR, with `data/dagster_home` holding the
    local instance profile, as the Makefile sets them), filled by `vsat_assets.demo.main` over
    DEMO_TEST_YEARS at SMALL_SCALE in its own process (the code location reads VSAT_DATA_DIR at
    import). Returns {"root", "data", "dagster_home", "stdout", "years"}. Tests that change its data
    (test_readme_commands.py runs the docs' commands on it) say so."""
    root = tmp_path_factory.mktemp("demo-clone")
    for entry in PROJECT_ROOT.iterdir():
        if entry.name not in ("data", ".git", "report.pdf"):
            (root / entry.name).symlink_to(entry)
    data, home = root / "data", root / "data" / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    scale = {"resources": {"report_source": {"config": {"scale": SMALL_SCALE}}}}
    script = f"from vsat_assets import demo; demo.main({DEMO_TEST_YEARS!r}, monthly_run_config={scale!r})"
    import subprocess
    import sys

    env = users_shell_env(VSAT_DATA_DIR=str(data), DAGSTER_HOME=str(home), VSAT_PROFILE="demo")
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {"root": root, "data": data, "dagster_home": home, "stdout": done.stdout, "years": DEMO_TEST_YEARS}
