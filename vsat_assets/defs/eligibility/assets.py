"""The eligibility stage's assets: its SQL models (dbt_like_sql/, group eligibility)."""

from vsat_assets.sql_runner.assets import build_sql_assets

SQL_ASSETS = build_sql_assets(group="eligibility")
