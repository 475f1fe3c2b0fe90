"""Unit tests of the SQL model runner on a tiny model project written into tmp_path.

The project has one source table (`raw.events`), a month-partitioned staging model
and an unpartitioned mart:

    raw.events --source()--> staging.stg_events --ref()--> marts.event_totals

Tests run the runner's functions directly on a DuckDB file (no Dagster), except the
asset tests, which turn the project into assets with a `SqlProject` as a domain would
hand it (no survey module involved). Later sections: a model built month by month with
an invariant, drift compared by name, redacted errors, the compile command, code versions.
"""

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import AssetKey, MonthlyPartitionsDefinition, TableSchema, materialize
from dagster_duckdb import DuckDBResource

from vsat_assets.sql_runner import assets as sql_assets
from vsat_assets.sql_runner import cli as runner_cli
from vsat_assets.sql_runner.build import build_model, build_model_safely, run_test
from vsat_assets.sql_runner.column_tests import tests_for as model_tests
from vsat_assets.sql_runner.models import ModelError, discover_models, load_model, render, sql_literal
from vsat_assets.sql_runner.project import SqlProject

APRIL = (date(2023, 4, 1), date(2023, 5, 1))
MAY = (date(2023, 5, 1), date(2023, 6, 1))
MONTHS = MonthlyPartitionsDefinition(start_date="2023-01-01", end_offset=0)
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
    connection.execute("CREATE SCHEMA raw")
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
def tiny_project(directory: Path, **hooks) -> SqlProject:
    """The tiny project as its domain would hand it to the runner: no domain functions."""
    return SqlProject(directory=directory, partitions={"month": MONTHS}, variables=lambda resources: VARIABLES,
                      **hooks)


@pytest.fixture
def project_assets(project):
    """The tiny project as Dagster assets."""
    return {a.key.to_user_string(): a for a in sql_assets.build_sql_assets(tiny_project(project))}


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
    built = sql_assets.build_sql_assets(tiny_project(project))
    assert {a.key.to_user_string() for a in built} == {"stg_events", "event_totals"}


# ------------------------------------------------------------ month by month
RUNNING_SQL = """\
-- Each month's events with the running total of all months so far (read from earlier months).
select e.event_date, e.event_id, e.amount,
       e.amount + coalesce((select sum(amount) from {{ this }} where event_date < {{ window_start }}), 0)
           + coalesce(sum(e.amount) over (order by e.event_date, e.event_id
                                          rows between unbounded preceding and 1 preceding), 0) as running_total
from {{ source('raw', 'events') }} e
where e.event_date >= {{ window_start }} and e.event_date < {{ window_end }}
"""

RUNNING_YML = """\
description: Events with the running total of amounts, each month building on the month before.
partitioned_by: month
window_column: event_date
build: month_by_month
previous_month: required
columns:
  - {name: event_date, data_type: DATE}
  - {name: event_id, data_type: INTEGER}
  - {name: amount, data_type: INTEGER}
  - {name: running_total, data_type: HUGEINT}
invariants:
  - name: no_negative_amounts
    description: an amount is negative
    sql: select * from {{ this }} where event_date >= {{ window_start }} and amount < 0
"""
JUNE = (date(2023, 6, 1), date(2023, 7, 1))


@pytest.fixture
def running(project):
    write_model(project, "intermediate", "running_totals", RUNNING_SQL, RUNNING_YML)
    models = discover_models(project)
    return models["running_totals"], models


def test_month_by_month_model_reads_the_months_before_it(running, conn):
    model, models = running

    # A range run of April..May builds April, then May reading April's rows.
    assert build_model(conn, model, models, VARIABLES, (APRIL[0], MAY[1])) == 3
    assert rows(conn, "SELECT event_id, running_total FROM intermediate.running_totals") == [(1, 10), (2, 15), (3, 22)]
    assert rows(conn, "SELECT month FROM ops.built_months WHERE model = 'running_totals'") == [
        (APRIL[0],), (MAY[0],)]

    # A re-run of May alone gives the same rows (it reads April from the table).
    assert build_model(conn, model, models, VARIABLES, MAY) == 1
    assert rows(conn, "SELECT event_id, running_total FROM intermediate.running_totals") == [(1, 10), (2, 15), (3, 22)]


def test_month_whose_previous_month_is_missing_is_refused(running, conn):
    model, models = running
    build_model(conn, model, models, VARIABLES, APRIL)

    with pytest.raises(ModelError) as raised:
        build_model(conn, model, models, VARIABLES, JUNE)

    assert "2023-06" in str(raised.value) and "2023-05" in str(raised.value)
    assert rows(conn, "SELECT event_id FROM intermediate.running_totals") == [(1,), (2,)]


def test_invariant_refuses_the_month_and_keeps_the_stored_rows(running, conn):
    model, models = running
    build_model(conn, model, models, VARIABLES, (APRIL[0], MAY[1]))
    before = rows(conn, "SELECT * FROM intermediate.running_totals")
    conn.execute("UPDATE raw.events SET amount = -7 WHERE event_id = 3")

    with pytest.raises(ModelError) as raised:
        build_model(conn, model, models, VARIABLES, MAY)

    message = str(raised.value)
    assert "refused" in message and "an amount is negative" in message and "no_negative_amounts" in message
    assert "1 rows" in message
    assert rows(conn, "SELECT * FROM intermediate.running_totals") == before


# ----------------------------------------------------------- drift by name
def test_swapped_column_order_is_not_drift(project, conn):
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    # The same columns in another order: inserted BY NAME, so nothing to complain about.
    write_model(project, "staging", "stg_events",
                STG_EVENTS_SQL.replace("event_date, event_id, area, amount", "amount, area, event_id, event_date"),
                STG_EVENTS_YML)
    models = discover_models(project)

    assert build_model(conn, models["stg_events"], models, VARIABLES, MAY) == 1
    assert rows(conn, "SELECT * FROM staging.stg_events") == sorted(EVENTS, key=repr)


def test_drift_message_names_missing_new_and_retyped_columns(project, conn):
    models = discover_models(project)
    build_model(conn, models["stg_events"], models, VARIABLES, APRIL)
    write_model(project, "staging", "stg_events",
                STG_EVENTS_SQL.replace("event_id, area, amount", "event_id, area as region, amount / 2 as amount"),
                STG_EVENTS_YML)
    models = discover_models(project)

    with pytest.raises(ModelError) as raised:
        build_model(conn, models["stg_events"], models, VARIABLES, MAY)

    message = str(raised.value)
    assert "not in the query: area VARCHAR" in message
    assert "not in the table: region VARCHAR" in message
    assert "type changed: amount INTEGER -> DOUBLE" in message
    assert "event_date" not in message and "event_id" not in message  # unchanged columns are not listed


# ---------------------------------------------------------------- redaction
PERSONAL = "Mrs O'Brien 07700 900123"


def test_error_hides_the_value_and_keeps_the_column_and_table_names(project, conn):
    conn.execute("INSERT INTO raw.events VALUES (DATE '2023-04-03', 77, ?, 1)", [PERSONAL])
    path = write_model(project, "marts", "area_codes", "select event_id, area::INTEGER as area_code "
                       "from {{ source('raw', 'events') }} where amount > 0 and event_id = 77", "description: x\n")
    models = discover_models(project)

    with pytest.raises(ModelError) as raised:
        build_model_safely(conn, models["area_codes"], models, VARIABLES, None)

    message = str(raised.value)
    assert str(path) in message and "Conversion" in message
    assert "column area" in message and "raw.events" in message  # the names stay
    for part in ("O'Brien", "Brien", "07700", "900123", "Mrs"):   # the value goes, also the part after its quote
        assert part not in message
    assert "amount > …" in message  # literals of the SQL go too: only names are kept


def test_error_keeps_quoted_names_and_hides_quoted_values(project, conn):
    conn.execute("INSERT INTO raw.events VALUES (DATE '2023-04-03', 77, ?, 1)", [PERSONAL])
    write_model(project, "marts", "typo", "select aera from {{ source('raw', 'events') }}", "description: x\n")
    write_model(project, "marts", "dates", "select strptime(area, '%d/%m/%Y') as d from {{ source('raw', 'events') }} "
                "where event_id = 77", "description: x\n")
    models = discover_models(project)

    with pytest.raises(ModelError) as typo:
        build_model_safely(conn, models["typo"], models, VARIABLES, None)
    with pytest.raises(ModelError) as dates:
        build_model_safely(conn, models["dates"], models, VARIABLES, None)

    assert '"aera"' in str(typo.value) and '"area"' in str(typo.value)  # the typo and the candidates
    assert "Brien" not in str(dates.value) and "07700" not in str(dates.value)  # quoted and on its own line


def test_error_hides_a_value_spanning_lines(project, conn):
    conn.execute("INSERT INTO raw.events VALUES (DATE '2023-04-03', 77, ?, 1)", ["12 Acacia Avenue\nDurham DH1"])
    write_model(project, "marts", "area_codes", "select area::INTEGER as code from {{ source('raw', 'events') }} "
                "where event_id = 77", "description: x\n")
    models = discover_models(project)

    with pytest.raises(ModelError) as raised:
        build_model_safely(conn, models["area_codes"], models, VARIABLES, None)

    assert "column area" in str(raised.value)
    assert "Acacia" not in str(raised.value) and "Durham" not in str(raised.value)


def test_the_domain_hands_its_own_redaction(project, conn):
    conn.execute("INSERT INTO raw.events VALUES (DATE '2023-04-03', 77, ?, 1)", [PERSONAL])
    write_model(project, "marts", "area_codes", "select area::INTEGER as code from {{ source('raw', 'events') }} "
                "where event_id = 77", "description: x\n")
    models = discover_models(project)

    with pytest.raises(ModelError) as raised:
        build_model_safely(conn, models["area_codes"], models, VARIABLES, None,
                           redact=lambda message, names: "withheld; names known: " + str("area" in names))

    assert str(raised.value).endswith("ConversionException: withheld; names known: True")


# ------------------------------------------------------------------ compile
def test_compile_prints_the_rendered_sql_of_a_partition(project, capsys):
    assert runner_cli.main(tiny_project(project), ["compile", "stg_events", "--partition", "2023-05-01"]) == 0

    printed = capsys.readouterr().out
    assert "DATE '2023-05-01'" in printed and "DATE '2023-06-01'" in printed
    assert "raw.events" in printed and "{{" not in printed


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compile", "no_such_model"], "unknown model 'no_such_model'; models: event_totals, stg_events"),
        (["compile", "stg_events"], "stg_events is partitioned by month: give --partition YYYY-MM-DD"),
        (["compile", "stg_events", "--partition", "2023-05-17"], "no month partition '2023-05-17'"),
        (["compile", "event_totals", "--partition", "2023-05-01"], "event_totals is not partitioned"),
    ],
)
def test_compile_answers_bad_input_in_one_line(project, capsys, argv, expected):
    assert runner_cli.main(tiny_project(project), argv) == 2

    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_compile_command_of_the_survey_models():
    done = subprocess.run(
        [sys.executable, "-m", "vsat_assets.sql_project", "compile", "sampled_cohort", "--partition", "2024-05-01"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "DATE '2024-05-01'" in done.stdout and "intermediate.sampling_frame" in done.stdout
    assert "{{" not in done.stdout


# ------------------------------------------------------------- code version
def test_code_version_changes_with_the_sql_or_the_yaml_only(project):
    first = discover_models(project)["stg_events"].code_version
    assert discover_models(project)["stg_events"].code_version == first
    write_model(project, "staging", "stg_events", STG_EVENTS_SQL + "-- a comment\n", STG_EVENTS_YML)
    changed_sql = discover_models(project)["stg_events"].code_version
    write_model(project, "staging", "stg_events", STG_EVENTS_SQL + "-- a comment\n",
                STG_EVENTS_YML.replace("How much.", "How much, in pounds."))
    changed_yml = discover_models(project)["stg_events"].code_version

    assert len({first, changed_sql, changed_yml}) == 3
    built = {a.key.to_user_string(): a for a in sql_assets.build_sql_assets(tiny_project(project))}
    assert built["stg_events"].code_versions_by_key[AssetKey("stg_events")] == changed_yml


def test_the_runner_imports_nothing_of_the_domain():
    runner = Path(sql_assets.__file__).parent
    imports = {
        line.split()[1]
        for path in runner.glob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(("from vsat_assets", "import vsat_assets"))
    }
    assert imports and all(name.startswith("vsat_assets.sql_runner") for name in imports), imports


def test_build_sql_assets_of_one_group(project):
    write_model(project, "marts", "area_list", "select distinct area from {{ ref('stg_events') }}",
                "description: Areas.\ngroup: areas\n")
    built = sql_assets.build_sql_assets(tiny_project(project), group="areas")
    assert [a.key.to_user_string() for a in built] == ["area_list"]


def test_assets_build_with_the_functions_and_variables_the_domain_hands_them(project, tmp_path):
    database = tmp_path / "assets.duckdb"
    with duckdb.connect(str(database)) as setup:
        setup.execute("CREATE SCHEMA raw")
        setup.execute("CREATE TABLE raw.events (event_date DATE, event_id INTEGER, area VARCHAR, amount INTEGER)")
        setup.executemany("INSERT INTO raw.events VALUES (?, ?, ?, ?)", [*EVENTS, (date(2023, 6, 9), 9, PERSONAL, 1)])
    write_model(project, "marts", "loud_areas", "select distinct shout(area) as loud, {{ var('label') }} as label "
                "from {{ ref('stg_events') }} where area in {{ var('areas') }}", "description: x\n")
    write_model(project, "marts", "area_codes", "select area::INTEGER as code from {{ source('raw', 'events') }} "
                "where event_id = 9", "description: x\n")
    prepared = []

    def prepare(context, conn, model, window):  # the domain's functions, registered on the run's connection
        conn.execute("CREATE OR REPLACE TEMP MACRO shout(x) AS upper(x) || '!'")
        prepared.append((model.name, window))

    built = {a.key.to_user_string(): a for a in sql_assets.build_sql_assets(tiny_project(project, prepare=prepare))}
    resources = {"warehouse": DuckDBResource(database=str(database))}

    assert materialize([built["stg_events"]], partition_key="2023-04-01", resources=resources).success
    assert materialize([built["loud_areas"]], resources=resources).success
    failed = materialize([built["area_codes"]], resources=resources, raise_on_error=False)

    assert prepared[:2] == [("stg_events", APRIL), ("loud_areas", None)]
    with resources["warehouse"].get_connection() as check:
        assert rows(check, "SELECT * FROM marts.loud_areas") == [
            ("NORTH!", VARIABLES["label"]), ("SOUTH!", VARIABLES["label"])]
    message = failed.failure_data_for_node("area_codes").error.to_string()  # with the ModelError it wraps
    assert "column area" in message and "area_codes.sql" in message
    assert "Brien" not in message and "07700" not in message
