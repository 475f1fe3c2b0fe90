"""The records-system export layout: the columns of `raw.reports`, in order.

This layout is agreed with the force's records team; the README documents it.
Exports may be CSV (UTF-8, header row, ISO dates, booleans as true/false, Y/N
or 1/0) or Parquet with these column names.
"""


import polars as pl

REPORT_COLUMNS: dict[str, pl.DataType] = {
    "force_code": pl.String,           # e.g. 'DUR'
    "crime_reference": pl.String,      # personal data: never leaves raw/staging
    "report_date": pl.Date,
    "record_type": pl.String,          # 'CRIME' or 'ASB'
    "offence_code": pl.String,         # see vsat_assets/defs/raw_reports/offences.csv
    "offence_description": pl.String,
    "policing_area": pl.String,
    "victim_person_id": pl.String,     # stable per person within a force
    "victim_title": pl.String,
    "victim_forename": pl.String,
    "victim_surname": pl.String,       # organisation name for organisation victims
    "victim_date_of_birth": pl.Date,
    "victim_phone": pl.String,         # as typed by the call handler
    "victim_ethnicity": pl.String,     # WHITE, MIXED, ASIAN, BLACK, OTHER, NOT_STATED
    "is_organisation": pl.Boolean,
    "police_on_duty": pl.Boolean,
    "is_deceased": pl.Boolean,
    "is_sensitive": pl.Boolean,
    "is_domestic_abuse": pl.Boolean,
    "safe_to_contact": pl.Boolean,     # confirmation of safe contact (domestic abuse); null if not asked
}

RECORD_TYPES = ("CRIME", "ASB")
ETHNICITIES = ("WHITE", "MIXED", "ASIAN", "BLACK", "OTHER", "NOT_STATED")
DURHAM_AREAS = ("NORTH_DURHAM", "EAST_DURHAM", "SOUTH_DURHAM", "DARLINGTON")

# Columns that are never null in a valid export.
REQUIRED_COLUMNS = (
    "force_code", "crime_reference", "report_date", "record_type", "offence_code",
    "policing_area", "victim_person_id", "is_organisation", "police_on_duty",
    "is_deceased", "is_sensitive", "is_domestic_abuse",
)

_DUCKDB_TYPES = {pl.String: "VARCHAR", pl.Date: "DATE", pl.Boolean: "BOOLEAN"}


def stored_columns() -> list[tuple[str, str]]:
    """(name, DuckDB type) of `raw.reports`: the layout plus the file each row came from."""
    return [(name, _DUCKDB_TYPES[dtype]) for name, dtype in REPORT_COLUMNS.items()] + [("source_file", "VARCHAR")]


def report_table_ddl(table: str) -> str:
    """CREATE TABLE statement for a table holding reports in this layout."""
    cols = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in stored_columns())
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols}\n)"
