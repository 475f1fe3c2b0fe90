"""Quarterly: the Police and Crime Commissioner's pack, its job and its schedule."""

from dagster import Definitions

from vsat_assets.defs.quarterly.assets import pcc_quarterly_pack
from vsat_assets.defs.quarterly.schedules import pcc_quarterly_pack_job, pcc_quarterly_pack_schedule

defs = Definitions(assets=[pcc_quarterly_pack], jobs=[pcc_quarterly_pack_job], schedules=[pcc_quarterly_pack_schedule])
