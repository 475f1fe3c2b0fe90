"""Stage 3, sampling: the opt-out register, the month's sampling frame and cohort."""

from dagster import Definitions, load_asset_checks_from_modules

from vsat_assets.defs.sampling import checks
from vsat_assets.defs.sampling.assets import SQL_ASSETS, opt_out_register

defs = Definitions(assets=[opt_out_register, *SQL_ASSETS], asset_checks=load_asset_checks_from_modules([checks]))
