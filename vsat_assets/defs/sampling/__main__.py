"""Add an emailed opt-out request from the command line:

    .venv/bin/python -m vsat_assets.defs.sampling --surname Example --phone "07700 900123" --reference EMAIL-42

Waits for any run writing the warehouse to finish its step (the writer lock), then
adds the entry. Nothing of the request is printed or logged, and only keyed hashes are stored.
"""

from datetime import date

import duckdb

from vsat_assets import cli, clock, settings
from vsat_assets.keys import check_against_warehouse
from vsat_assets.defs.sampling.opt_outs import record_direct_request
from vsat_assets.warehouse import ensure_schemas, transaction, writer_lock


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m vsat_assets.defs.sampling", description="Record an emailed opt-out.")
    parser.add_argument("--surname", required=True)
    parser.add_argument("--phone", required=True)
    parser.add_argument("--received-on", type=date.fromisoformat, default=clock.today())
    parser.add_argument("--reference", default="")
    args = parser.parse_args(argv)
    ring = settings.key_ring()
    with writer_lock(settings.warehouse_path()), duckdb.connect(str(settings.warehouse_path())) as conn:
        ensure_schemas(conn)
        with transaction(conn):
            check_against_warehouse(conn, ring)
            added = record_direct_request(
                conn, ring.current, surname=args.surname, phone=args.phone,
                received_on=args.received_on, reference=args.reference,
            )
    print(f"opt-out recorded: {added} new register entries" if added else "already on the register")
    return 0


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.defs.sampling")
