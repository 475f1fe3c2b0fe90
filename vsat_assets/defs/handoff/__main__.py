"""The operator's hand-off commands:

    .venv/bin/python -m vsat_assets.defs.handoff sent 2025-04
    .venv/bin/python -m vsat_assets.defs.handoff reopen 2025-04 --reason "withdrawn with the contractor, ticket 123"

`sent` records that a month's hand-off has gone to the contractor (when mark_sent_on_write is
off). From then on the month is settled: a re-run keeps its sample, weights, contact history
and file as sent. `reopen` is the only way back: it records who re-opened the month, when and
why in ops.handoff_reopenings, and the next run of the month draws and hands it off again.
"""

import argparse
import getpass
import sys
from datetime import datetime

import duckdb

from vsat_assets import cli, clock
from vsat_assets.warehouse import ensure_schemas, open_existing_warehouse, transaction


def _month(text: str):
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month (expected YYYY-MM)") from None


def mark_sent(conn: duckdb.DuckDBPyConnection, month) -> tuple[str | None, str]:
    """Record the month as sent: (an error message or None, what was done)."""
    logged = conn.execute("SELECT sent_at FROM ops.handoff_log WHERE sampling_month = ?", [month]).fetchall()
    if not logged:
        return f"no hand-off has been written for {month:%Y-%m}", ""
    if logged[0][0] is not None:
        return None, f"hand-off {month:%Y-%m} was already recorded as sent on {logged[0][0]:%Y-%m-%d %H:%M}: nothing changed"
    conn.execute("UPDATE ops.handoff_log SET sent_at = ?::TIMESTAMP WHERE sampling_month = ?", [clock.now(), month])
    return None, f"hand-off {month:%Y-%m} recorded as sent"


def reopen(conn: duckdb.DuckDBPyConnection, month, reason: str, by: str) -> str | None:
    """Re-open a sent month: it is no longer settled. An error message, or None."""
    if not reason.strip():
        return "give the reason with --reason (it is kept in ops.handoff_reopenings)"
    logged = conn.execute(
        "SELECT sent_at, sha256, rows, purged_at FROM ops.handoff_log WHERE sampling_month = ?", [month]).fetchall()
    if not logged or logged[0][0] is None:
        return f"the hand-off for {month:%Y-%m} has not been sent: there is nothing to re-open"
    sent_at, sha256, rows, purged_at = logged[0]
    if purged_at is not None:
        return f"the hand-off for {month:%Y-%m} was purged after its retention period: it cannot be re-opened"
    with transaction(conn):
        conn.execute(
            """INSERT INTO ops.handoff_reopenings
               (sampling_month, reopened_at, reopened_by, reason, was_sent_at, sha256, rows)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [month, clock.now(), by, reason.strip(), sent_at, sha256, rows])
        conn.execute("UPDATE ops.handoff_log SET sent_at = NULL WHERE sampling_month = ?", [month])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m vsat_assets.defs.handoff")
    commands = parser.add_subparsers(dest="command", required=True)
    sent = commands.add_parser("sent", help="mark a month's hand-off as sent to the contractor")
    sent.add_argument("month", type=_month, help="YYYY-MM")
    reopened = commands.add_parser(
        "reopen", help="re-open a sent month (agree with the contractor first that its file is withdrawn)")
    reopened.add_argument("month", type=_month, help="YYYY-MM")
    reopened.add_argument("--reason", required=True, help="why, e.g. the contractor's withdrawal reference")
    args = parser.parse_args(argv)
    with open_existing_warehouse() as conn:
        ensure_schemas(conn)
        if args.command == "sent":
            error, done = mark_sent(conn, args.month)
        else:
            error = reopen(conn, args.month, args.reason, getpass.getuser())
            done = (f"{args.month:%Y-%m} re-opened: its next run draws and hands it off again "
                    "(the people of the withdrawn file leave the contact history then)")
    if error:
        print(error, file=sys.stderr)
        return 1
    print(done)
    return 0


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.defs.handoff")
