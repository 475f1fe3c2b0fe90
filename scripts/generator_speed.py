"""Rows per second of the built-in generator, one month at Durham and at national scale.

    .venv/bin/python scripts/generator_speed.py
"""

import time
from datetime import date

from vsat_assets import cli
from vsat_assets.defs.raw_reports.generator import GeneratorSettings, generate_month


def main() -> None:
    cli.parser("scripts/generator_speed.py", description="Rows per second of the generator.").parse_args()
    for label, settings in (("Durham", GeneratorSettings()), ("national", GeneratorSettings(scale=100, forces=43))):
        for month in (date(2025, 4, 1), date(2025, 5, 1)):  # the first call also builds lookup tables
            started = time.perf_counter()
            rows = sum(frame.height for frame in generate_month(month, settings))
            seconds = time.perf_counter() - started
        print(f"{label:9} {rows:>9,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    cli.run(main, "scripts/generator_speed.py")
