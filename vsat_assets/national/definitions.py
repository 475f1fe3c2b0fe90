"""The national code location (`dagster dev -m vsat_assets.national.definitions`): one asset that
reads only the forces' published extracts. A force's code location is vsat_assets.definitions."""

from dagster import AssetExecutionContext, Definitions, MaterializeResult, MetadataValue, asset


@asset(
    group_name="national",
    description="England and Wales, each most similar group and every force side by side, per financial year, "
    "question and strand, from the forces' published extracts only (<national>/published/<CODE>/); the national "
    "marts (aggregate) in <national>/national.duckdb, a caterpillar chart per year, and each force's comparator "
    "file (<national>/comparators/<CODE>/, the layout of docs/comparisons.md) for its own satisfaction_comparison. "
    "Method: docs/national.md.",
    kinds={"csv", "duckdb", "plotly"},
)
def national_comparison(context: AssetExecutionContext) -> MaterializeResult:
    from vsat_assets.national.stage import national_dir, run_national

    result = run_national(national_dir())
    context.log.info(f"national comparison: {result['forces']} forces from {result['files']} published files")
    return MaterializeResult(metadata={"forces": result["forces"], "files": result["files"],
                                       "rows": MetadataValue.json(result["rows"]),
                                       "comparator_files": len(result["comparator_files"]),
                                       "warehouse": MetadataValue.path(result["warehouse"])})


defs = Definitions(assets=[national_comparison])
