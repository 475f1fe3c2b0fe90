"""Unit tests of the SQL model runner on a tiny model project written into tmp_path.

The project has one source table (`raw.events`), a month-partitioned staging model
and an unpartitioned mart:

    raw.events --source()--> staging.stg_events --ref()--> marts.event_totals

Tests run the runner's functions directly on a DuckDB file (no Dagster), except the
last ones, which turn the project into assets.
"""

import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import AssetKey, TableSchema

from vsat_assets.sql_runner import assets as sql_assets
from vsat_assets.sql_runner.build import build_model, run_test
from vsat_assets.sql_runner.column_tests import tests_for as model_tests
from vsat_assets.sql_runner.models import ModelError, discover_models, load_model, render, sql_literal
from vsat_assets.warehouse import ensure_schemas

APRIL = (date(2023, 4, 1), date(2023, 5, 1))
MAY = (date(2023, 5, 1), date(2023, 6, 1))
VARIABLES = {"areas": ["NORTH", "SOUTH"], "min_amount": 0, "label": "O'Brien's \"shop\""}

STG_EVENTS_SQL = """\
-- Events of the window.
select event_date, event_id, area, amount
from {{ source('raw', 'events') }}
where event_date >= {{ window_start }}
  and event_date < {{ window_end }}
"""

STG_EVENTS_YML = """\
description: Events, one row per event, for the partition's month.
partitioned_by: month
window_column: event_date
owners: [team:tests]
columns:
  - name: event_date
    data_type: DATE
    description: Day of the event.
    tests: [not_null]
  - name: event_id
    data_type: INTEGER
    description: The event's number.
    tests: [not_null, unique]
  - name: area
    data_type: VARCHAR
    description: Where it happened.
    tests:
      - accepted_values: {var: areas}
  - name: amount
    data_type: INTEGER
    description: How much.
"""

EVENT_TOTALS_SQL = """\
select area, sum(amount) as total, {{ var('label') }} as label
from {{ ref('stg_events') }}
where amount > {{ var('min_amount') }}
group by all
"""

EVENT_TOTALS_YML = """\
description: Total amount per area over all months.
columns:
  - name: area
    data_type: VARCHAR
    description: Area.
  - name: total
    data_type: HUGEINT
    description: Sum of amounts.
  - name: label
    data_type: VARCHAR
    description: A fixed label from the settings.
"""

SOURCES_YML = """\
sources:
  raw:
    events: {asset: raw_events}
"""

# (event_date, event_id, area, amount): two in April, one in May.
EVENTS = [
    (date(2023, 4, 2), 1, "NORTH", 10),
    (date(2023, 4, 30), 2, "SOUTH", 5),
    (date(2023, 5, 1), 3, "NORTH", 7),
]


def write_model(project: Path, stage: str, name: str, sql: str, yml: str | None) -> Path:
    folder = project / stage
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(textwrap.dedent(sql), encoding="utf-8")
    if yml is not None:
        path.with_suffix(".yml").write_text(textwrap.dedent(yml), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The tiny model project (see the module docstring) in `<tmp_path>/models`."""
    root = tmp_path / "models"
    root.mkdir()
    (root / "sources.yml").write_text(SOURCES_YML, encoding="utf-8")
    write_model(root, "staging", "stg_events", STG_EVENTS_SQL, STG_EVENTS_YML)
    write_model(root, "marts", "event_totals", EVENT_TOTALS_SQL, EVENT_TOTALS_YML)
    return root


@pytest.fixture
def conn(tmp_path: Path):
    """A DuckDB connection on a temp file with the warehouse schemas and `raw.events` filled."""
    connection = duckdb.connect(str(tmp_path / "runner.duckdb"))
    ensure_schemas(connection)
    connection.execute("CREATE TABLE raw.events (event_date DATE, event_id INTEGER, area VARCHAR, amount INTEGER)")
    connection.executemany("INSERT INTO raw.events VALUES (?, ?, ?, ?)", EVENTS)
    yield connection
    connection.close()


def rows(conn, sql: str) -> list[tuple]:
    return sorted(conn.execute(sql).fetchall(), key=repr)


# ------------------------------------------------------------------ discovery
def test_dependencies_come_from_ref_and_source(project):
    models = discover_models(project)

    assert set(models) == {"stg_events", "event_totals"}
    assert models["stg_events"].sources == {("raw", "events")}
    assert models["stg_events"].refs == frozenset()
    assert models["event_totals"].refs == {"stg_events"}
    assert models["event_totals"].sources == frozenset()
    assert models["stg_events"].table == "staging.stg_events"
    assert (models["stg_events"].partitioned_by, models["stg_events"].window_column) == ("month", "event_date")
    assert models["event_totals"].partitioned_by == "none"


def test_unknown_ref_is_a_model_error_naming_the_file(project):
    bad = write_model(project, "marts", "broken", "select * from {{ ref('no_such_model') }}", "description: x\n")

    with pytest.raises(ModelError) as raised:
        discover_models(project)

    assert str(bad) in str(raised.value)
    assert "no_such_model" in str(raised.value)


def test_missing_yaml_is_a_model_error_naming_the_file(project):
    bad = write_model(project, "marts", "undocumented", "select 1 as one", None)

    with pytest.raises(ModelError) as raised:
        discover_models(project)

    assert str(bad) in str(raised.value)
    assert "undocumented.yml" in str(raised.value)


@pytest.mark.parametrize(
    "expression",
    ["{{ ref(stg_events) }}", "{{ config(materialized='table') }}", "{{ source('raw') }}"],
)
def test_unreadable_template_is_a_model_error_naming_the_file(project, expression):
    bad = write_model(project, "marts", "odd", f"select * from {expression}", "description: x\n")

    with pytest.raises(ModelError, match="odd.sql"):
        load_model(bad)


# -------------------------------------------------------------------- render
def test_render_substitutes_window_and_quoted_escaped_vars(project, conn):
    models = discover_models(project)
    rendered = render(models["stg_events"], models, VARIABLES, APRIL)
    assert "DATE '2023-04-01'" in rendered and "DATE '2023-05-01'" in rendered
    assert "raw.events" in rendered and "{{" not in rendered

    totals = render(models["event_totals"], models, VARIABLES, None)
    assert "staging.stg_events" in totals
    assert """'O''Brien''s "shop"'""" in totals
    assert "amount > 0" in totals
    # The quoted literal reads back as the original string.
    assert conn.execute(f"SELECT {sql_literal(VARIABLES['label'])}").fetchone()[0] == VARIABLES["label"]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("x'); DROP TABLE raw.events; --", "'x''); DROP TABLE raw.events; --'"),
        (18, "18"),
        (0.25, "0.25"),
        (True, "true"),
        (False, "false"),
        (date(2023, 4, 1), "DATE '2023-04-01'"),
        (["NORTH", "O'Neill"], "('NORTH', 'O''Neill')"),
    ],
)
def test_sql_literal(value, literal, conn):
    assert sql_literal(value) == literal
    # And DuckDB reads each literal back as the value (a list as a row of values).
    found = conn.execute(f"SELECT {literal}").fetchone()
    assert found == ((tuple(value) if isinstance(value, list) else value),)


def test_render_refuses_window_in_unpartitioned_model_and_unset_var(project):
    models = discover_models(project)
    with pytest.raises(ModelError, match="not set"):
        render(models["event_totals"], models, {"min_amount": 0}, None)
    with pytest.raises(ModelError, match="window_start"):
        render(models["stg_events"], models, VARIABLES, None)


# ---------------------------------------------------------------------- build
def test_partitioned_rerun_replaces_its_window_and_keeps_others(project, conn):
    models = discover_models(project)
    stg = models["stg_events"]

    assert build_model(conn, stg, models, VARIABLES, APRIL) == 2
    assert build_model(conn, stg, models, VARIABLES, MAY) == 1
    assert build_model(conn, stg, models, VARIABLES, APRIL) == 2
    assert rows(conn, "SELECT * FROM staging.stg_events") == sorted(EVENTS, key=repr)

    # The source changes for April: the re-run replaces April and leaves May alone.
    conn.execute("DELETE FROM raw.events WHERE event_id = 1")
    conn.execute("INSERT INTO raw.events VALUES (DATE '2023-04-15', 4, 'SOUTH', 1)")
    assert build_model(conn, stg, models, VARIABLES, APRIL) == 2
    assert rows(conn, "SELECT event_id FROM staging.stg_events") == [(2,), (3,), (4,)]


def test_unpartitioned_model_is_replaced_whole(project, conn):
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    build_model(conn, models["stg_events"], models, VARIABLES, MAY)

    assert build_model(conn, models["event_totals"], models, VARIABLES, None) == 2
    assert build_model(conn, models["event_totals"], models, VARIABLES, None) == 2
    expected = [("NORTH", 17, VARIABLES["label"]), ("SOUTH", 5, VARIABLES["label"])]
    assert rows(conn, "SELECT * FROM marts.event_totals") == expected


def test_writing_outside_the_window_fails_and_keeps_the_table(project, conn):
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    before = rows(conn, "SELECT * FROM staging.stg_events")
    # The model forgets its window filter: a May row lands in the April run.
    leaky_path = write_model(project, "staging", "stg_events", "select * from {{ source('raw', 'events') }}",
                             STG_EVENTS_YML)
    models = discover_models(project)

    with pytest.raises(ModelError) as raised:
        build_model(conn, models["stg_events"], models, VARIABLES, APRIL)

    assert str(leaky_path) in str(raised.value) and "outside its window" in str(raised.value)
    assert rows(conn, "SELECT * FROM staging.stg_events") == before


def test_writing_outside_the_window_on_first_build_creates_no_table(project, conn):
    write_model(project, "staging", "stg_events", "select * from {{ source('raw', 'events') }}", STG_EVENTS_YML)
    models = discover_models(project)

    with pytest.raises(ModelError, match="outside its window"):
        build_model(conn, models["stg_events"], models, VARIABLES, APRIL)

    found = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'stg_events'")
    assert found.fetchone()[0] == 0


def test_rows_with_null_window_column_are_refused(project, conn):
    # A NULL in the window column lies in no window: no re-run could ever replace the row.
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    before = rows(conn, "SELECT * FROM staging.stg_events")
    conn.execute("INSERT INTO raw.events VALUES (NULL, 9, 'NORTH', 1)")
    write_model(project, "staging", "stg_events",
                STG_EVENTS_SQL + "union all select event_date, event_id, area, amount "
                "from {{ source('raw', 'events') }} where event_date is null\n", STG_EVENTS_YML)
    models = discover_models(project)

    with pytest.raises(ModelError, match="outside its window"):
        build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    assert rows(conn, "SELECT * FROM staging.stg_events") == before


def test_changed_columns_fail_with_a_clear_message(project, conn):
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    before = rows(conn, "SELECT * FROM staging.stg_events")
    changed = write_model(project, "staging", "stg_events",
                          STG_EVENTS_SQL.replace("amount\n", "amount, amount * 2 as doubled\n"), STG_EVENTS_YML)
    models = discover_models(project)

    with pytest.raises(ModelError) as raised:
        build_model(conn, models["stg_events"], models, VARIABLES, MAY)

    message = str(raised.value)
    assert str(changed) in message
    assert "columns" in message and "doubled" in message  # says what changed
    assert "staging.stg_events" in message and "drop the table" in message  # and what to do
    assert rows(conn, "SELECT * FROM staging.stg_events") == before


def test_changed_column_type_fails(project, conn):
    # amount INTEGER -> DOUBLE: INSERT BY NAME silently casts 2.5 into the INTEGER column as 3.
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    write_model(project, "staging", "stg_events",
                STG_EVENTS_SQL.replace("amount\n", "amount / 2 as amount\n"), STG_EVENTS_YML)
    models = discover_models(project)

    with pytest.raises(ModelError, match="columns"):
        build_model(conn, models["stg_events"], models, VARIABLES, MAY)


# ---------------------------------------------------------------------- tests
CHECKED_SQL = "select * from {{ source('raw', 'planted') }}"
CHECKED_YML = """\
description: A table with planted bad rows.
columns:
  - name: id
    tests: [not_null, unique]
  - name: category
    tests:
      - accepted_values: {values: [A, B]}
  - name: area
    tests:
      - accepted_values: {var: areas, severity: warn}
tests:
  - unique_combination: [category, area]
  - expression_is_true: {name: amount_positive, expression: amount > 0}
"""
# (id, category, area, amount)
PLANTED = [
    (1, "A", "NORTH", 10),
    (2, "B", "SOUTH", 5),
    (2, "A", "NORTH", -1),      # id 2 twice; (A, NORTH) twice; amount not positive
    (None, "C", "WEST", 3),     # null id; category C; area WEST
    (5, None, "MARS", None),    # null category (not counted); area MARS; null amount fails
    (6, "B", "NORTH", 1),
    (None, "A", "SOUTH", 4),    # a second null id: null, but not a duplicate (nulls are not compared)
]
EXPECTED_FAILING = {
    "not_null__id": 2,
    "unique__id": 2,
    "accepted_values__category": 1,
    "accepted_values__area": 2,
    "unique_combination__category__area": 2,
    "amount_positive": 2,
}


def test_each_yaml_test_kind_counts_its_failing_rows(tmp_path, conn):
    project = tmp_path / "checked_project"
    project.mkdir()
    (project / "sources.yml").write_text("sources:\n  raw:\n    planted: {asset: planted}\n", encoding="utf-8")
    write_model(project, "marts", "checked", CHECKED_SQL, CHECKED_YML)
    conn.execute("CREATE TABLE raw.planted (id INTEGER, category VARCHAR, area VARCHAR, amount INTEGER)")
    conn.executemany("INSERT INTO raw.planted VALUES (?, ?, ?, ?)", PLANTED)
    models = discover_models(project)
    model = models["checked"]
    build_model(conn, model, models, VARIABLES, None)

    tests = {t.name: t for t in model_tests(model)}

    assert {name: t.kind for name, t in tests.items()} == {
        "not_null__id": "not_null", "unique__id": "unique",
        "accepted_values__category": "accepted_values", "accepted_values__area": "accepted_values",
        "unique_combination__category__area": "unique_combination", "amount_positive": "expression_is_true",
    }
    failing = {name: run_test(conn, t, model, VARIABLES, None) for name, t in tests.items()}
    assert failing == EXPECTED_FAILING
    assert not tests["accepted_values__area"].blocking
    assert all(t.blocking for name, t in tests.items() if name != "accepted_values__area")

    # Clean the planted rows: every test passes.
    conn.execute("DELETE FROM raw.planted WHERE id IS NULL OR id IN (2, 5)")
    build_model(conn, model, models, VARIABLES, None)
    assert {name: run_test(conn, t, model, VARIABLES, None) for name, t in tests.items()} == dict.fromkeys(tests, 0)


def test_tests_of_a_partitioned_model_count_only_its_window(project, conn):
    conn.execute("INSERT INTO raw.events VALUES (DATE '2023-05-20', 3, 'WEST', 1)")  # May: id 3 twice, WEST
    models = discover_models(project)
    stg = models["stg_events"]
    build_model(conn, stg, models, VARIABLES, APRIL)
    build_model(conn, stg, models, VARIABLES, MAY)
    tests = {t.name: t for t in model_tests(stg)}

    assert run_test(conn, tests["unique__event_id"], stg, VARIABLES, APRIL) == 0
    assert run_test(conn, tests["accepted_values__area"], stg, VARIABLES, APRIL) == 0
    assert run_test(conn, tests["unique__event_id"], stg, VARIABLES, MAY) == 2
    assert run_test(conn, tests["accepted_values__area"], stg, VARIABLES, MAY) == 1


def test_unknown_yaml_test_is_a_model_error(project):
    path = write_model(project, "marts", "odd_test", "select 1 as one",
                       "columns:\n  - name: one\n    tests: [is_positive]\n")
    with pytest.raises(ModelError, match="unknown test 'is_positive'"):
        model_tests(load_model(path))


# --------------------------------------------------------------------- assets
@pytest.fixture
def project_assets(project, monkeypatch):
    """The tiny project as Dagster assets.

    build_asset computes the `sql_file` metadata relative to the module's PROJECT_DIR
    instead of the project it was given, so PROJECT_DIR is
    pointed at the tiny project for these tests.
    """
    monkeypatch.setattr(sql_assets, "PROJECT_DIR", project)
    return {a.key.to_user_string(): a for a in sql_assets.build_sql_assets(project)}


def test_assets_take_deps_from_refs_and_sources(project_assets):
    deps = {
        name: {d.asset_key for d in a.specs_by_key[a.key].deps} for name, a in project_assets.items()
    }
    assert deps == {"stg_events": {AssetKey("raw_events")}, "event_totals": {AssetKey("stg_events")}}
    assert project_assets["stg_events"].partitions_def is not None
    assert project_assets["event_totals"].partitions_def is None
    assert {c.name for c in project_assets["stg_events"].check_specs} == {
        "not_null__event_date", "not_null__event_id", "unique__event_id", "accepted_values__area"}


def test_column_docs_become_column_schema_metadata(project_assets):
    for name, yml in (("stg_events", STG_EVENTS_YML), ("event_totals", EVENT_TOTALS_YML)):
        spec = project_assets[name].specs_by_key[AssetKey(name)]
        schema = spec.metadata["dagster/column_schema"]
        if not isinstance(schema, TableSchema):
            schema = schema.schema  # wrapped as TableSchemaMetadataValue
        doc = yaml.safe_load(yml)
        documented = [(c["name"], c["data_type"], c["description"]) for c in doc["columns"]]
        assert [(c.name, c.type, c.description) for c in schema.columns] == documented
        assert spec.description == doc["description"].strip()


def test_build_sql_assets_accepts_any_project_dir(project):
    built = sql_assets.build_sql_assets(project)
    assert {a.key.to_user_string() for a in built} == {"stg_events", "event_totals"}
