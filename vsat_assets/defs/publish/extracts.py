"""The marts as files for spreadsheet and BI users: one Parquet and one CSV per table in a
dated folder (data/extracts/YYYY-MM-DD/), replaced whole.

They hold the analysts' file's tables as published, figure for figure: disclosure control is
applied once, before the file is written (published.py; a suppressed row keeps its keys and
flags but shows no figure and no base), so a file and its extracts never disagree. CSV cells are UTF-8 and formula-safe: text starting with = + - @ tab or CR gets a
leading ' so a spreadsheet shows it instead of evaluating it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vsat_assets.sql_runner.models import sql_literal

TEXT_TYPES = ("VARCHAR",)


def _columns(conn, schema: str, table: str) -> list[tuple[str, str]]:
    database, schema_name = schema.split(".")
    return conn.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ? ORDER BY column_index", [database, schema_name, table]).fetchall()


def _select(columns: list[tuple[str, str]], source: str, csv: bool) -> str:
    parts = []
    for name, kind in columns:
        expr = f'"{name}"'
        if csv and kind in TEXT_TYPES:
            expr = f"CASE WHEN regexp_matches({expr}, '^[=+\\-@\\t\\r]') THEN '''' || {expr} ELSE {expr} END"
        parts.append(f'{expr} AS "{name}"')
    return f"SELECT {', '.join(parts)} FROM {source}"


def write_extracts(conn, schema: str, tables: list[str], folder: Path) -> list[Path]:
    """Write `schema`.table as table.parquet and table.csv into `folder`, replacing it whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    written = []
    for table in tables:
        columns = _columns(conn, schema, table)
        source = f"{schema}.{table}"
        parquet, csv = partial / f"{table}.parquet", partial / f"{table}.csv"
        conn.execute(f"COPY ({_select(columns, source, csv=False)}) TO {sql_literal(str(parquet))} (FORMAT parquet)")
        conn.execute(f"COPY ({_select(columns, source, csv=True)}) TO {sql_literal(str(csv))} "
                     "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')")
        written += [folder / parquet.name, folder / csv.name]
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)
    return written
