"""The code location loads: with the dagster CLI, in-process, and without heavy optional imports."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, TableSchema

ROOT = Path(__file__).resolve().parents[1]
SQL_PROJECT = ROOT / "dbt_like_sql"
VENV_BIN = Path(sys.executable).parent
# `{{ ref('x') }}` and `{{ source('schema', 'table') }}`, read independently of the runner's parser.
REF = re.compile(r"""\{\{\s*ref\(\s*['"](\w+)['"]\s*\)\s*\}\}""")
SOURCE = re.compile(r"""\{\{\s*source\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)\s*\}\}""")


def _clean_env(tmp_path: Path) -> dict:
    """The environment with data and Dagster home under tmp_path, so nothing lands in the repo."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "VSAT_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(home)}


@pytest.fixture(scope="module")
def defs():
    from vsat_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def asset_graph(defs):
    return defs.resolve_asset_graph()


def _dg(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    dg = VENV_BIN / "dg"
    assert dg.exists(), f"no dg executable next to {sys.executable}"
    env = {**_clean_env(tmp_path), "VIRTUAL_ENV": str(VENV_BIN.parent), "VSAT_PROFILE": "demo"}
    return subprocess.run([str(dg), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_dg_check_defs_passes_from_the_repository_root(tmp_path):
    done = _dg(tmp_path, "check", "defs")

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All definitions loaded successfully" in output
    assert "does not match the virtual environment" not in output


@pytest.mark.slow
def test_dg_lists_every_stage_s_jobs_schedules_and_sensor(tmp_path):
    import json

    done = _dg(tmp_path, "list", "defs", "--json")

    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert {j["name"] for j in listed["jobs"]} == {
        "monthly_survey_job", "survey_responses_job", "annual_satisfaction_job", "retention_job", "overdue_checks_job",
        "pcc_quarterly_pack_job"}
    assert {s["name"] for s in listed["schedules"]} == {
        "monthly_survey_schedule", "annual_satisfaction_schedule", "retention_schedule", "overdue_checks_schedule",
        "pcc_quarterly_pack_schedule"}
    assert {s["name"] for s in listed["sensors"]} == {
        "contractor_returns_sensor", "run_failure_email_sensor", "overdue_email_sensor"}
    assert {"raw_reports", "victim_eligibility", "sampled_cohort", "contractor_handoff", "survey_responses",
            "satisfaction_annual", "analytics_file"} <= {a["asset_key"] for a in listed["assets"]}


@pytest.mark.slow
def test_dg_launch_runs_a_named_job_for_one_partition(tmp_path):
    done = _dg(tmp_path, "launch", "--job", "monthly_survey_job", "--partition", "2025-04-01")

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "data" / "outbox").iterdir()) == [
        "handoff_2025-04.csv", "handoff_2025-04.manifest.json"]


def test_each_stage_folder_holds_its_definitions():
    """A newcomer opens vsat_assets/defs/<stage>/ and finds that stage's Python, gathered in definitions.py."""
    import importlib

    from dagster import Definitions

    stages = sorted(p.name for p in (ROOT / "vsat_assets" / "defs").iterdir() if (p / "__init__.py").exists())
    assert stages == sorted(
        ["raw_reports", "eligibility", "sampling", "handoff", "responses", "annual", "compare", "quarterly",
         "publish"])
    for stage in stages:
        assert (ROOT / "vsat_assets" / "defs" / stage / "definitions.py").exists(), stage
    for stage in set(stages) - {"publish"}:  # publish's asset is built from the other stages' assets
        module = importlib.import_module(f"vsat_assets.defs.{stage}.definitions")
        assert isinstance(module.defs, Definitions) and module.defs.assets, stage


@pytest.mark.slow
def test_dagster_cli_validates_the_workspace(tmp_path):
    dagster = VENV_BIN / "dagster"
    assert dagster.exists(), f"no dagster executable next to {sys.executable}"

    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=_clean_env(tmp_path), capture_output=True, text=True, timeout=180,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Validation successful for code location vsat." in output
    assert "Validation successful for code location vsat_national" in output


def test_every_asset_has_a_group_and_a_description(asset_graph):
    keys = asset_graph.get_all_asset_keys()
    assert keys
    missing = {
        key.to_user_string(): (node.group_name, node.description)
        for key in keys
        for node in [asset_graph.get(key)]
        if not node.group_name or node.group_name == "default" or not (node.description or "").strip()
    }
    assert not missing, f"assets without a group or description: {missing}"


def _sql_models() -> dict[str, Path]:
    return {path.stem: path for path in sorted(SQL_PROJECT.glob("*/*.sql"))}


def test_every_sql_model_is_an_asset_with_deps_from_its_sql(asset_graph):
    sources = yaml.safe_load((SQL_PROJECT / "sources.yml").read_text(encoding="utf-8"))["sources"]
    asset_of_source = {
        (schema, table): spec.get("asset")
        for schema, tables in sources.items()
        for table, spec in tables.items()
    }
    models = _sql_models()
    assert {"stg_reports", "report_volumes"} <= models.keys()

    for name, path in models.items():
        key = AssetKey(name)
        assert asset_graph.has(key), f"{path.relative_to(ROOT)} is not an asset"
        sql = path.read_text(encoding="utf-8")
        expected = {AssetKey(ref) for ref in REF.findall(sql)}
        for source in SOURCE.findall(sql):
            assert source in asset_of_source, f"{path.name}: source {source} not in sources.yml"
            if asset_of_source[source]:  # `asset: null` marks a history-only read, not a dependency
                expected.add(AssetKey(asset_of_source[source]))
        doc = yaml.safe_load(path.with_suffix(".yml").read_text(encoding="utf-8"))
        if doc.get("previous_month") == "required":   # each month depends on the month before it
            expected.add(key)
        assert asset_graph.get(key).parent_keys == expected, name


def _unwrap(value):
    return getattr(value, "value", value)


def test_sql_assets_document_their_columns(asset_graph):
    for name in _sql_models():
        node = asset_graph.get(AssetKey(name))
        # Raw values or their MetadataValue wrappers, depending on how the asset was defined.
        schema = _unwrap(node.metadata.get("dagster/column_schema"))
        assert isinstance(schema, TableSchema) and schema.columns, f"{name} has no column docs"
        assert all(c.description for c in schema.columns), f"{name} has undocumented columns"
        assert _unwrap(node.metadata["dagster/table_name"]).endswith(f".{name}")


# antlr4 is Dagster's parser of selections written as strings; AssetSelection objects need none.
HEAVY = ("duckdb", "great_expectations", "polars", "numpy", "pyarrow", "pandas", "plotly", "scipy", "samplics", "paramiko",
         "antlr4")


def test_loading_the_definitions_imports_no_heavy_library(tmp_path):
    """The code server, the daemon and every run load the code location: the data libraries are
    imported by the steps that use them, so that loading stays close to `import dagster`."""
    # A fresh interpreter: this test process may well have imported them through other tests.
    code = (
        "import sys, vsat_assets.definitions as d\n"
        "assert d.defs.resolve_asset_graph().get_all_asset_keys()\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_clean_env(tmp_path),
        capture_output=True, text=True, timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
