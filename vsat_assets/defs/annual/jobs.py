"""The annual run: a financial year's tables, HMICFRS export and report (selected by lineage)."""

from dagster import AssetSelection, define_asset_job

# The year's calibrated weights and everything that reads them (the rolling table, the tables,
# the comparison, the export, the report, the analysts' file).
# The published comparator figures are read again too, so the report compares with the latest file.
YEAR_TABLES = AssetSelection.assets("response_weights").downstream() | AssetSelection.assets("comparator_figures")

annual_satisfaction_job = define_asset_job(
    "annual_satisfaction_job",
    # The quarterly pack reads these tables too, on quarters: its own job and schedule (defs/quarterly/).
    selection=YEAR_TABLES - AssetSelection.assets("pcc_quarterly_pack"),
    description="A financial year's satisfaction tables, HMICFRS export and annual report.",
)
