"""One national run: the published extracts in, the national marts and the caterpillar charts out."""

from __future__ import annotations

import os
from pathlib import Path

NATIONAL_DIR_ENV = "VSAT_NATIONAL_DIR"


def national_dir() -> Path:
    """The national body's folder (`VSAT_NATIONAL_DIR`, default `<VSAT_DATA_DIR>/national`)."""
    from vsat_assets import settings

    return Path(os.environ.get(NATIONAL_DIR_ENV, settings.data_dir() / "national")).resolve()


def published_dir(root: Path) -> Path:
    """Where the forces' extracts arrive: `<national>/published/<CODE>/national_vsat_YYYY-YY.csv`."""
    return root / "published"


def comparators_dir(root: Path) -> Path:
    """What goes back to each force: `<national>/comparators/<CODE>/national_comparators_YYYY-YY.csv`."""
    return root / "comparators"


def run_national(root: Path) -> dict:
    """Read every published extract under `root`; write `root/national.duckdb`, the charts and each
    force's comparator files (`root/comparators/<CODE>/`)."""
    from vsat_assets.national.chart import write_caterpillars
    from vsat_assets.national.comparators import write_comparator_files
    from vsat_assets.national.published import published_files, read_published
    from vsat_assets.national.tables import write_national

    files = published_files(published_dir(root))
    figures = read_published(published_dir(root))
    if not figures:
        raise FileNotFoundError(f"no published national extract under {published_dir(root)}")
    db = root / "national.duckdb"
    counts = write_national(db, figures)
    charts = write_caterpillars(db, root / "reports")
    comparators = write_comparator_files(db, comparators_dir(root), sorted({f.financial_year for f in figures}))
    return {"files": len(files), "forces": len({f.force for f in figures}), "rows": counts,
            "charts": [str(p) for p in charts], "comparator_files": [str(p) for p in comparators],
            "warehouse": str(db)}
