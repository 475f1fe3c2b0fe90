"""Stage 2, eligibility: every victim of the month eligible or excluded with one reason."""

from dagster import Definitions, load_asset_checks_from_modules

from vsat_assets.defs.eligibility import checks
from vsat_assets.defs.eligibility.assets import SQL_ASSETS

defs = Definitions(assets=SQL_ASSETS, asset_checks=load_asset_checks_from_modules([checks]))
