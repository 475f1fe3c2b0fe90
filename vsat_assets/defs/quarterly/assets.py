"""The Police and Crime Commissioner's quarterly pack: HTML (prints to PDF) and a spreadsheet (ODS, XLSX)."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from vsat_assets import clock, settings
from vsat_assets.atomic import write_atomically
from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.quarterly import quarters
from vsat_assets.defs.quarterly.quarters import quarter_partitions
from vsat_assets.defs.quarterly.targets import PackTargets
from vsat_assets.resources import SurveySettings
from vsat_assets.warehouse import WarehouseResource


def pack_paths(key: str) -> dict[str, Path]:
    """data/reports/vsat_pcc_pack_2025-26_q1.{html,ods,xlsx} for the quarter keyed '2025-04-01'."""
    start = quarters.quarter_start_of(key)
    stem = f"vsat_pcc_pack_{quarters.financial_year_of_quarter(start).replace('/', '-')}_q{quarters.quarter_number(start)}"
    folder = settings.data_dir() / "reports"
    return {kind: folder / f"{stem}.{kind}" for kind in ("html", "ods", "xlsx")}


@asset(
    group_name="quarterly",
    description="The Police and Crime Commissioner's quarterly pack on the national measure 'improve satisfaction "
    "amongst victims, focusing on domestic abuse': rolling 12 months to the quarter's end, the domestic abuse "
    "survey, the plan's targets rated red/amber/green on the 95% interval, the ethnic-minority gap by year, year on "
    "year by strand and by area, and England and Wales. A self-contained HTML page (prints to PDF) and an "
    "accessible spreadsheet (ODS and XLSX), from the published marts only. docs/pcc_pack.md.",
    deps=["satisfaction_rolling", "satisfaction_da_quarterly", "satisfaction_gap", "satisfaction_annual",
          "satisfaction_comparison"],
    partitions_def=quarter_partitions,
    kinds={"html", "plotly", "ods", "xlsx"},
)
def pcc_quarterly_pack(context: AssetExecutionContext, config: PackTargets, warehouse: WarehouseResource,
                       annual: AnnualSettings, survey: SurveySettings) -> MaterializeResult:
    from vsat_assets.defs.quarterly import figures, page, spreadsheet  # pandas, plotly: at build, not at load

    start = quarters.quarter_start_of(context.partition_key)
    low_base, suppress = annual.low_base_threshold, annual.suppress_threshold
    with warehouse.get_connection() as conn:
        pack = figures.build(conn, start, config, low_base, suppress)
    paths = pack_paths(context.partition_key)
    synthetic = settings.report_source() == "generator"
    write_atomically(paths["html"], page.build_page(pack, survey.force_name, clock.today(), synthetic),
                     step="pcc_pack.html")
    spreadsheet.write_ods(paths["ods"], pack, survey.force_name, low_base, suppress)
    spreadsheet.write_xlsx(paths["xlsx"], pack, survey.force_name, low_base, suppress)
    for sentence in pack.sentences:
        context.log.info(sentence)
    return MaterializeResult(metadata={
        **{kind: MetadataValue.path(str(path)) for kind, path in paths.items()},
        "quarter": pack.label,
        "summary": MetadataValue.md("\n".join(f"- {s}" for s in pack.sentences)),
    })
