"""The survey's SQL models (`dbt_like_sql/`) wired to the runner (`sql_runner/`, which knows no
victims): their partitions, the settings they read as `{{ var() }}`, the functions they call
(phone normalisation, pseudonyms) and the key checks before any build.

    python -m vsat_assets.sql_project compile sampled_cohort --partition 2024-05-01
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import AssetsDefinition

from vsat_assets import settings
from vsat_assets.keys import carry_over_old_keys, check_against_warehouse
from vsat_assets.partitions import financial_year_partitions, monthly_partitions
from vsat_assets.privacy import PHONE_NORMALISE_SQL, register_pseudonym_function
from vsat_assets.resources import SurveySettings
from vsat_assets.sql_runner.assets import build_sql_assets
from vsat_assets.sql_runner.models import Model
from vsat_assets.sql_runner.project import SqlProject
from vsat_assets.sql_runner.redaction import hide_literals
from vsat_assets.warehouse import ensure_schemas

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_like_sql"
# Registers matched against pseudonyms: a model reading them first re-keys old entries (keys.py).
REGISTERS = {("ops", "opt_out_register"), ("ops", "contact_history")}


def prepare_connection(conn: "duckdb.DuckDBPyConnection", pseudonym_key: bytes) -> None:
    """The schemas and registers models read, and functions they may call (this connection only)."""
    ensure_schemas(conn)
    conn.execute(f"CREATE OR REPLACE TEMP MACRO normalise_uk_phone(raw) AS {PHONE_NORMALISE_SQL.format(col='raw')}")
    register_pseudonym_function(conn, pseudonym_key, "vsat_pseudonym")


def _prepare_for_build(context, conn: "duckdb.DuckDBPyConnection", model: Model, window) -> None:
    ring = settings.key_ring()
    prepare_connection(conn, ring.current)
    check_against_warehouse(conn, ring)
    if window and model.sources & REGISTERS:
        carried = carry_over_old_keys(conn, ring, *window)
        context.log.info(f"key rotation: carried over to the current key {carried}")


def _variables(resources) -> dict:
    survey = resources.survey if resources is not None else SurveySettings()
    return survey.model_vars()


SQL_PROJECT = SqlProject(
    directory=PROJECT_DIR,
    partitions={"month": monthly_partitions, "financial_year": financial_year_partitions},
    variables=_variables,
    prepare=_prepare_for_build,
    redact=hide_literals,
    resource_keys=frozenset({"survey"}),
)



def sql_assets(group: str) -> list[AssetsDefinition]:
    """The assets of the models of one lineage stage (their YAML's `group`)."""
    return build_sql_assets(SQL_PROJECT, group=group)


if __name__ == "__main__":
    from vsat_assets.sql_runner.cli import main

    sys.exit(main(SQL_PROJECT, prog="python -m vsat_assets.sql_project"))
