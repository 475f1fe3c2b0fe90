"""Add an emailed opt-out request from the command line:

    .venv/bin/python -m vsat_assets.defs.sampling --surname Example --phone "07700 900123" --reference EMAIL-42

Waits for any run writing the warehouse to finish its step (the writer lock), then
adds the entry. Nothing of the request is printed or logged, and only keyed hashes are stored.
The warehouse must exist (a mistyped VSAT_DATA_DIR is an error, never a new empty register), and
the change is recorded on the Dagster instance as a materialization of `opt_out_register`.
"""

import os
from datetime import date
from pathlib import Path

from vsat_assets import cli, clock, settings
from vsat_assets.keys import check_against_warehouse
from vsat_assets.defs.sampling.opt_outs import record_direct_request, register_changed, usable_phone
from vsat_assets.warehouse import ensure_schemas, open_existing_warehouse, transaction


def dagster_home() -> Path:
    """The instance the UI and the daemon use: DAGSTER_HOME, or the Makefile's default beside the data."""
    return Path(os.environ.get("DAGSTER_HOME") or settings.data_dir() / "dagster_home")


def report_to_dagster(event) -> str | None:
    """Record `event` on the Dagster instance; a note for the operator when there is none to record it on."""
    from dagster import DagsterInstance

    home = dagster_home()
    if not home.is_dir():
        return (f"note: no Dagster instance at {home} (set DAGSTER_HOME): the UI shows the register's new count "
                "after its next materialization")
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            instance.report_runless_asset_event(event)
    except Exception as error:  # noqa: BLE001 - the opt-out is recorded either way; say what was not
        return f"note: the register has it, but the Dagster instance at {home} was not told: {cli.one_line(error)}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m vsat_assets.defs.sampling", description="Record an emailed opt-out.")
    parser.add_argument("--surname", required=True)
    parser.add_argument("--phone", required=True)
    parser.add_argument("--received-on", type=date.fromisoformat, default=clock.today())
    parser.add_argument("--reference", default="")
    args = parser.parse_args(argv)
    usable_phone(args.phone)  # a bad number is refused before anything is opened
    ring = settings.key_ring()
    with open_existing_warehouse() as conn:
        ensure_schemas(conn)
        with transaction(conn):
            check_against_warehouse(conn, ring)
            added = record_direct_request(
                conn, ring.current, surname=args.surname, phone=args.phone,
                received_on=args.received_on, reference=args.reference,
            )
        event = register_changed(conn, added, "an emailed request (python -m vsat_assets.defs.sampling)")
    print(f"opt-out recorded: {added} new register entries" if added else "already on the register")
    if added and (note := report_to_dagster(event)):
        print(note)
    return 0


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.defs.sampling")
