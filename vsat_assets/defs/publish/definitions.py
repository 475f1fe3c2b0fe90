"""Stage 7, publish: the analysts' file, after every asset that writes a marts table, and the
restricted file where one is configured."""

from dagster import Definitions

from vsat_assets.defs.publish.assets import build_publish_asset
from vsat_assets.defs.publish.restricted import restricted_file


def publish_defs(upstream: list[Definitions]) -> Definitions:
    """The analysts' file reads the marts the other stages write: built from their assets."""
    assets = [a for d in upstream for a in d.assets or []]
    return Definitions(assets=[build_publish_asset(assets), restricted_file])
