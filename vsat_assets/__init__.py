"""The VSAT platform: a police force's Victim Satisfaction Survey as Dagster assets on DuckDB."""
