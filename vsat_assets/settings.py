"""Where the platform keeps its files, read from the environment once."""

import os
from pathlib import Path


def data_dir() -> Path:
    """Root of generated data (`VSAT_DATA_DIR`, default `./data`)."""
    return Path(os.environ.get("VSAT_DATA_DIR", "data")).resolve()


def warehouse_path() -> Path:
    return data_dir() / "vsat.duckdb"


def drop_dir() -> Path:
    """Folder of records-system exports (`VSAT_DROP_DIR`, default `<data>/drop`)."""
    return Path(os.environ.get("VSAT_DROP_DIR", data_dir() / "drop")).resolve()


def report_source() -> str:
    """'generator' (the built-in synthetic data) or 'exports' (the drop folder)."""
    return os.environ.get("VSAT_REPORT_SOURCE", "generator")


def profile() -> str:
    """'development' (default) or 'production': production refuses the built-in pseudonym key."""
    return os.environ.get("VSAT_PROFILE", "development")


def pseudonym_key() -> tuple[bytes, bool]:
    """(key, is_development_key) for survey ids and register keys (`VSAT_PSEUDONYM_KEY`)."""
    from vsat_assets.privacy import pseudonym_key_from_env

    return pseudonym_key_from_env(profile())


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap (`VSAT_DUCKDB_MEMORY_LIMIT`, default 1GB): past it, DuckDB spills to
    disk, so a run's memory stays flat however large the year."""
    return os.environ.get("VSAT_DUCKDB_MEMORY_LIMIT", "1GB")
