"""`compile MODEL [--partition KEY]`: print a model's rendered SQL; one line on bad input."""

import argparse
import sys

from vsat_assets.sql_runner.models import ModelError
from vsat_assets.sql_runner.project import SqlProject


def main(project: SqlProject, argv: list[str] | None = None, prog: str = "sql_runner") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="The SQL models' runner.")
    commands = parser.add_subparsers(dest="command", required=True)
    compile_ = commands.add_parser("compile", help="print a model's SQL as it runs for a partition")
    compile_.add_argument("model", help="the model's name, e.g. sampled_cohort")
    compile_.add_argument("--partition", help="partition key of a partitioned model, e.g. 2024-05-01")
    args = parser.parse_args(argv)
    try:
        print(project.compile(args.model, args.partition))
    except ModelError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    return 0
