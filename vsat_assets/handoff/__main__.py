"""Record that a month's hand-off has gone to the contractor (when mark_sent_on_write is off):

    .venv/bin/python -m vsat_assets.handoff sent 2025-04

From then on, a run that would change that month's file fails instead of replacing it.
"""

import argparse
import sys
from datetime import datetime

import duckdb

from vsat_assets import cli, settings
from vsat_assets.warehouse import writer_lock


def _month(text: str):
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month (expected YYYY-MM)") from None


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m vsat_assets.handoff")
    commands = parser.add_subparsers(dest="command", required=True)
    sent = commands.add_parser("sent", help="mark a month's hand-off as sent to the contractor")
    sent.add_argument("month", type=_month, help="YYYY-MM")
    args = parser.parse_args(argv)
    if not settings.warehouse_path().exists():
        raise FileNotFoundError(f"{settings.warehouse_path()}: no warehouse yet (run the monthly job first)")
    with writer_lock(settings.warehouse_path()), duckdb.connect(str(settings.warehouse_path())) as conn:
        updated = conn.execute(
            "UPDATE ops.handoff_log SET sent_at = coalesce(sent_at, current_timestamp) WHERE sampling_month = ?",
            [args.month],
        ).fetchall()[0][0]
    if not updated:
        print(f"no hand-off has been written for {args.month:%Y-%m}", file=sys.stderr)
        return 1
    print(f"hand-off {args.month:%Y-%m} recorded as sent")
    return 0


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.handoff")
