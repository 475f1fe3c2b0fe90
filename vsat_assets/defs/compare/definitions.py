"""How the force compares: the imported comparator figures and the comparison mart."""

from dagster import Definitions

from vsat_assets.defs.compare.assets import COMPARE_ASSETS
from vsat_assets.defs.compare.checks import COMPARE_CHECKS

defs = Definitions(assets=COMPARE_ASSETS, asset_checks=COMPARE_CHECKS)
