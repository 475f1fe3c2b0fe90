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
    """`VSAT_PROFILE`: 'demo' (`make demo`, the tests) may use the built-in pseudonym key; any other
    profile needs `VSAT_PSEUDONYM_KEY`."""
    return os.environ.get("VSAT_PROFILE", "")


def key_ring():
    """The pseudonym key ring (vsat_assets.keys.KeyRing); PseudonymKeyError if the key is missing or weak."""
    from vsat_assets.keys import key_ring_from_env

    return key_ring_from_env()


def pseudonym_key() -> tuple[bytes, bool]:
    """(current key, is the built-in demo key) for survey ids and register keys."""
    ring = key_ring()
    return ring.current, ring.is_demo_key


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap (`VSAT_DUCKDB_MEMORY_LIMIT`, default 1GB): past it, DuckDB spills to
    disk, so a run's memory stays flat however large the year."""
    return os.environ.get("VSAT_DUCKDB_MEMORY_LIMIT", "1GB")


def duckdb_config() -> dict[str, str | int]:
    """The warehouse connection's DuckDB settings: the memory cap and, when `VSAT_DUCKDB_THREADS`
    is set, the threads of each query (default DuckDB's, one per core). Several forces' runs on
    one machine at a time each get their share of the cores: two processes of two threads on two
    cores wait on each other."""
    config: dict[str, str | int] = {"memory_limit": duckdb_memory_limit()}
    threads = os.environ.get("VSAT_DUCKDB_THREADS", "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise ValueError(f"VSAT_DUCKDB_THREADS must be a whole number of at least 1, not {threads!r}")
        config["threads"] = int(threads)
    return config


def comparator_dir() -> Path:
    """Folder of published comparator figures, `*.csv` (`VSAT_COMPARATOR_DIR`, default `<data>/comparators`)."""
    return Path(os.environ.get("VSAT_COMPARATOR_DIR", data_dir() / "comparators")).resolve()


def restricted_file() -> Path | None:
    """The restricted (pseudonymous, respondent-level) file, `VSAT_RESTRICTED_FILE`; None when unset:
    then it is not written (docs/restricted-data.md)."""
    value = os.environ.get("VSAT_RESTRICTED_FILE", "").strip()
    return Path(value).resolve() if value else None
