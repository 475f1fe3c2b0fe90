"""The opt-out register as an asset: the table the eligibility rules read, and its counts.

Emailed requests are added with the command line (`python -m vsat_assets.defs.sampling`), not
with run config: a run's config is kept in Dagster's run storage and shown in the UI, and
a request holds a name and a phone number.
"""

from dagster import MaterializeResult, asset

from vsat_assets.sql_project import sql_assets
from vsat_assets.defs.sampling.opt_outs import REGISTER, register_metadata
from vsat_assets.warehouse import WarehouseResource, ensure_schemas


@asset(
    group_name="sampling",
    kinds={"duckdb"},
    description=(
        "Victims who asked never to be surveyed again, from the contractor's returns (OPT_OUT) "
        "and from emailed requests; matched on person and on normalised phone, held for ever. "
        "Stores keyed hashes only. Add an emailed request with `python -m vsat_assets.defs.sampling`. "
        "Each change (that command, OPT_OUT returns) is recorded as a materialization of this asset."
    ),
    metadata={"dagster/table_name": REGISTER},
)
def opt_out_register(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        metadata = register_metadata(conn)
    return MaterializeResult(metadata=metadata)


SQL_ASSETS = sql_assets("sampling")  # the frame and the cohort (dbt_like_sql/intermediate/)
