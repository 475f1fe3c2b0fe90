"""Turn every SQL model into a Dagster asset, and its YAML tests into asset checks."""

from datetime import date
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)
from dagster_duckdb import DuckDBResource

from vsat_assets.partitions import financial_year_partitions, monthly_partitions
from vsat_assets.resources import SurveySettings
from vsat_assets import settings
from vsat_assets.keys import carry_over_old_keys, check_against_warehouse
from vsat_assets.sql_runner.build import build_model_safely, prepare_connection, run_test, summarise
from vsat_assets.sql_runner.column_tests import tests_for
from vsat_assets.sql_runner.models import Model, ModelError, discover_models, load_sources

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_like_sql"
REGISTERS = {("ops", "opt_out_register"), ("ops", "contact_history")}
_PARTITIONS = {"month": monthly_partitions, "financial_year": financial_year_partitions}


def window_of(context: AssetExecutionContext, model: Model) -> tuple[date, date] | None:
    if model.partitioned_by == "none":
        return None
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _column_schema(model: Model) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(name=c.name, type=c.data_type or "", description=c.description) for c in model.columns]
    )


def build_asset(
    model: Model, models: dict[str, Model], source_assets: dict[tuple[str, str], str | None], project_dir: Path
) -> AssetsDefinition:
    missing = model.sources - source_assets.keys()
    if missing:
        raise ModelError(f"{model.path}: source(s) {sorted(missing)} are not declared in sources.yml")
    deps = [AssetKey(ref) for ref in sorted(model.refs)]
    deps += [AssetKey(source_assets[source]) for source in sorted(model.sources) if source_assets[source]]
    tests = tests_for(model)
    partitions_def = _PARTITIONS.get(model.partitioned_by)

    @asset(
        name=model.name,
        group_name=model.group,
        description=model.description,
        deps=deps,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        kinds={"duckdb", "sql"},
        owners=list(model.owners),
        metadata={
            "dagster/column_schema": _column_schema(model),
            "dagster/table_name": model.table,
            "sql_file": str(model.path.relative_to(project_dir.parent)),
        },
        check_specs=[
            AssetCheckSpec(t.name, asset=model.name, description=t.description(), blocking=t.blocking)
            for t in tests
        ],
    )
    def _model_asset(
        context: AssetExecutionContext, warehouse: DuckDBResource, survey: SurveySettings
    ) -> MaterializeResult:
        variables = survey.model_vars()
        window = window_of(context, model)
        ring = settings.key_ring()
        with warehouse.get_connection() as conn:
            prepare_connection(conn, ring.current)
            check_against_warehouse(conn, ring)
            if window and model.sources & REGISTERS:
                carried = carry_over_old_keys(conn, ring, *window)
                context.log.info(f"key rotation: carried over to the current key {carried}")
            written = build_model_safely(conn, model, models, variables, window)
            context.log.info(f"{model.table}: wrote {written} rows" + (f" for {window[0]}..{window[1]}" if window else ""))
            check_results = []
            for test in tests:
                failing = run_test(conn, test, model, variables, window)
                check_results.append(
                    AssetCheckResult(
                        check_name=test.name,
                        passed=failing == 0,
                        severity=AssetCheckSeverity.ERROR if test.blocking else AssetCheckSeverity.WARN,
                        metadata={"failing_rows": failing},
                    )
                )
            total = conn.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
            summary = summarise(conn, model, models, variables, window)
        metadata = {"dagster/row_count": total, "rows_written": written}
        if summary:
            metadata["summary"] = MetadataValue.md(summary)
        return MaterializeResult(
            metadata=metadata,
            check_results=check_results,
        )

    return _model_asset


def build_sql_assets(project_dir: Path = PROJECT_DIR, models: dict[str, Model] | None = None) -> list[AssetsDefinition]:
    models = discover_models(project_dir) if models is None else models
    source_assets = load_sources(project_dir)
    return [build_asset(model, models, source_assets, project_dir) for model in models.values()]
