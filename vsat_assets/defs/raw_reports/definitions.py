"""Stage 1, raw reports: the month's crime reports and the offence catalogue, staged and counted."""

from dagster import Definitions

from vsat_assets.defs.raw_reports.assets import SQL_ASSETS, offence_catalogue, raw_reports

defs = Definitions(assets=[offence_catalogue, raw_reports, *SQL_ASSETS])
