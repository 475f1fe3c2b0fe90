"""The eligibility stage's assets: its SQL models (dbt_like_sql/, group eligibility)."""

from vsat_assets.sql_project import sql_assets

SQL_ASSETS = sql_assets("eligibility")
