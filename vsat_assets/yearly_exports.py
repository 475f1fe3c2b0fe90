"""A CSV per financial year of a run's partitions under data/exports/ (the HMICFRS export, the national extract)."""

from collections.abc import Callable
from pathlib import Path

from dagster import MetadataValue

from vsat_assets import settings
from vsat_assets.partitions import financial_year_of, financial_year_partitions
from vsat_assets.sql_runner.partition_results import add_partition_metadata, partition_windows


def write_each_year(context, rows_of: Callable[[str], list[dict]], name_of: Callable[[str], str],
                    write: Callable[[Path, list[dict]], None]) -> None:
    """For each financial year of the run: its rows, written to exports/<name>, with the path and
    the cell count as that partition's metadata."""
    by_year = {}
    for w in partition_windows(context, financial_year_partitions):
        year = financial_year_of(w.start)
        rows = rows_of(year)
        path = settings.data_dir() / "exports" / name_of(year)
        write(path, rows)
        by_year[w.key] = {"path": MetadataValue.path(str(path)), "cells": len(rows)}
        context.log.info(f"{path.name}: {len(rows)} cells")
    add_partition_metadata(context, by_year)
