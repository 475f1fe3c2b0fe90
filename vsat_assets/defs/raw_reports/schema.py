"""The records-system export layout: the columns of `raw.reports`, in order.

This layout is agreed with the force's records team; docs/inputs.md documents it.
Exports may be CSV (UTF-8, header row, ISO dates, booleans as true/false, Y/N
or 1/0) or Parquet with these column names.
"""


# name -> polars type name; REPORT_COLUMNS (polars types) is built on first use, so that the
# code location loads without polars.
_LAYOUT: dict[str, str] = {
    "force_code": "String",           # e.g. 'DUR'
    "crime_reference": "String",      # personal data: never leaves raw/staging
    "report_date": "Date",
    "record_type": "String",          # 'CRIME' or 'ASB'
    "offence_code": "String",         # see vsat_assets/defs/raw_reports/offences.csv
    "offence_description": "String",
    "policing_area": "String",
    "victim_person_id": "String",     # stable per person within a force
    "victim_title": "String",
    "victim_forename": "String",
    "victim_surname": "String",       # organisation name for organisation victims
    "victim_date_of_birth": "Date",
    "victim_phone": "String",         # as typed by the call handler
    "victim_ethnicity": "String",     # WHITE, MIXED, ASIAN, BLACK, OTHER, NOT_STATED
    "is_organisation": "Boolean",
    "police_on_duty": "Boolean",
    "is_deceased": "Boolean",
    "is_sensitive": "Boolean",
    "is_domestic_abuse": "Boolean",
    "safe_to_contact": "Boolean",     # confirmation of safe contact (domestic abuse); null if not asked
}

ETHNICITIES = ("WHITE", "MIXED", "ASIAN", "BLACK", "OTHER", "NOT_STATED")

# Columns that are never null in a valid export.
REQUIRED_COLUMNS = (
    "force_code", "crime_reference", "report_date", "record_type", "offence_code",
    "policing_area", "victim_person_id", "is_organisation", "police_on_duty",
    "is_deceased", "is_sensitive", "is_domestic_abuse",
)

_DUCKDB_TYPES = {"String": "VARCHAR", "Date": "DATE", "Boolean": "BOOLEAN"}


def __getattr__(name: str):
    if name == "REPORT_COLUMNS":  # dict[str, pl.DataType], the layout as a polars schema
        import polars as pl

        return {column: getattr(pl, dtype) for column, dtype in _LAYOUT.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def layout() -> dict[str, str]:
    """Column name -> polars type name ('String', 'Date', 'Boolean') of the export layout."""
    return dict(_LAYOUT)


def stored_columns() -> list[tuple[str, str]]:
    """(name, DuckDB type) of `raw.reports`: the layout plus the file each row came from."""
    return [(name, _DUCKDB_TYPES[dtype]) for name, dtype in _LAYOUT.items()] + [("source_file", "VARCHAR")]


def report_table_ddl(table: str) -> str:
    """CREATE TABLE statement for a table holding reports in this layout."""
    cols = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in stored_columns())
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols}\n)"
