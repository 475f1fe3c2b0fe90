"""The opt-out register as an asset: materialise it with config to add an emailed request."""

from datetime import date

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from vsat_assets import settings
from vsat_assets.sampling.opt_outs import REGISTER, record_direct_request
from vsat_assets.warehouse import ensure_schemas, transaction


class OptOutRequest(Config):
    """An opt-out emailed to the force. Leave empty to just report the register."""

    surname: str = Field(default="", description="Surname as given in the email.")
    phone: str = Field(default="", description="Phone number as given in the email, any UK format.")
    received_on: str = Field(default="", description="Date the email arrived (YYYY-MM-DD); default today.")
    reference: str = Field(default="", description="The email's reference in the force's case system.")


@asset(
    group_name="sampling",
    kinds={"duckdb"},
    description=(
        "Victims who asked never to be surveyed again, from the contractor's returns (OPT_OUT) "
        "and from emailed requests; matched on person and on normalised phone, held for ever. "
        "Stores keyed hashes only. Materialise with config to add an emailed request."
    ),
    metadata={"dagster/table_name": REGISTER},
)
def opt_out_register(
    context: AssetExecutionContext, config: OptOutRequest, warehouse: DuckDBResource
) -> MaterializeResult:
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        if config.phone:
            received = date.fromisoformat(config.received_on) if config.received_on else date.today()
            with transaction(conn):
                added = record_direct_request(
                    conn, settings.pseudonym_key()[0], surname=config.surname, phone=config.phone,
                    received_on=received, reference=config.reference,
                )
            context.log.info(f"emailed opt-out request {config.reference or ''}: {added} new register entries")
        by_channel = dict(conn.execute(f"SELECT channel, count(*) FROM {REGISTER} GROUP BY ALL").fetchall())
    return MaterializeResult(
        metadata={"dagster/row_count": sum(by_channel.values()), "entries_by_channel": MetadataValue.json(by_channel)}
    )
