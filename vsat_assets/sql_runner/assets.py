"""Turn every SQL model into a Dagster asset, and its YAML tests into asset checks."""

from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    TimeWindowPartitionMapping,
    asset,
)
from vsat_assets.sql_runner.build import (
    build_model,
    errors_redacted,
    run_test,
    settled_message,
    settled_months,
    stale_months,
    summarise,
)
from vsat_assets.sql_runner.column_tests import tests_for
from vsat_assets.sql_runner.models import Model, ModelError, load_sources
from vsat_assets.sql_runner.partition_results import (
    PartitionWindow,
    add_partition_metadata,
    check_events,
    checks_by_partition,
    partition_windows,
    partitioned_check_spec,
)
from vsat_assets.sql_runner.project import SqlProject


def window_of(context: AssetExecutionContext, model: Model) -> tuple[date, date] | None:
    if model.partitioned_by == "none":
        return None
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _column_schema(model: Model) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(name=c.name, type=c.data_type or "", description=c.description) for c in model.columns]
    )


def _metadata(rows: int, summary: str | None, **more) -> dict:
    metadata = {"dagster/row_count": rows, **more}
    if summary:
        metadata["summary"] = MetadataValue.md(summary)
    return metadata


def _rows_in(conn, model: Model, window: PartitionWindow) -> int:
    return conn.execute(
        f"SELECT count(*) FROM {model.table} WHERE {model.window_column} >= ? AND {model.window_column} < ?",
        [window.start, window.end],
    ).fetchone()[0]


def _test_results(conn, tests: list, model: Model, variables: dict, window) -> list[AssetCheckResult]:
    results = []
    for test in tests:
        failing = run_test(conn, test, model, variables, window)
        results.append(AssetCheckResult(
            check_name=test.name,
            passed=failing == 0,
            severity=AssetCheckSeverity.ERROR if test.blocking else AssetCheckSeverity.WARN,
            metadata={"failing_rows": failing},
        ))
    return results


def build_asset(
    model: Model, models: dict[str, Model], source_assets: dict[tuple[str, str], str | None], project: SqlProject
) -> AssetsDefinition:
    missing = model.sources - source_assets.keys()
    if missing:
        raise ModelError(f"{model.path}: source(s) {sorted(missing)} are not declared in sources.yml")
    deps = [AssetKey(ref) for ref in sorted(model.refs)]
    deps += [AssetKey(source_assets[source]) for source in sorted(model.sources) if source_assets[source]]
    if model.needs_previous_month:
        # Each month depends on the month before it: asset backfills run in order, and the UI
        # shows a month whose predecessor is missing. The first partition has none.
        deps.append(AssetDep(model.name, partition_mapping=TimeWindowPartitionMapping(
            start_offset=-1, end_offset=-1)))
    tests = tests_for(model)
    partitions_def = project.partitions.get(model.partitioned_by)
    if model.partitioned_by != "none" and partitions_def is None:
        raise ModelError(f"{model.path}: no partitions named '{model.partitioned_by}' in this project")

    @asset(
        name=model.name,
        group_name=model.group,
        description=model.description,
        deps=deps,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        kinds={"duckdb", "sql"},
        owners=list(model.owners),
        code_version=model.code_version,
        required_resource_keys={project.warehouse_key, *project.resource_keys},
        metadata={
            "dagster/column_schema": _column_schema(model),
            "dagster/table_name": model.table,
            "sql_file": str(model.path.relative_to(project.directory.parent)),
        },
        check_specs=[
            partitioned_check_spec(t.name, model.name, partitions_def, description=t.description(),
                                   blocking=t.blocking)
            for t in tests
        ],
    )
    def _model_asset(context: AssetExecutionContext):
        variables = project.variables(context.resources)
        window = window_of(context, model)
        windows = partition_windows(context, partitions_def) if partitions_def else []
        with getattr(context.resources, project.warehouse_key).get_connection() as conn:
            project.prepare(context, conn, model, window)
            with errors_redacted(conn, model, project.redact):
                settled = settled_months(conn, model, models, variables, window)
                for month, sent_at in settled.items():
                    context.log.info(f"{model.name}: {settled_message(month, sent_at)}")
                written = build_model(conn, model, models, variables, window)
                stale = stale_months(conn, model, models, variables, window) if window else []
                if stale:
                    context.log.warning(
                        f"{model.name}: {', '.join(f'{m:%Y-%m}' for m in stale)} were built before "
                        f"{window[0]:%Y-%m} and are now stale: re-run them (a sent month stays as sent)")
                context.log.info(f"{model.table}: wrote {written} rows"
                                 + (f" for {window[0]}..{window[1]}" if window else ""))
                if not partitions_def:
                    total = conn.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
                    metadata = _metadata(total, summarise(conn, model, models, variables, None), rows_written=total)
                    results = _test_results(conn, tests, model, variables, None)
                else:
                    # Each partition's own row count, summary and test results, also in a range run.
                    add_partition_metadata(context, {
                        w.key: _metadata(_rows_in(conn, model, w),
                                         summarise(conn, model, models, variables, (w.start, w.end)),
                                         **({"settled": f"sent {settled[w.start]:%Y-%m-%d}, kept as sent"}
                                            if w.start in settled else {}))
                        for w in windows
                    })
                    results_by_partition = checks_by_partition(
                        windows, lambda w: _test_results(conn, tests, model, variables, (w.start, w.end))
                    )
        if not partitions_def:
            yield MaterializeResult(metadata=metadata, check_results=results)
            return
        run_metadata = {"rows_written_in_run": written}
        if settled:
            run_metadata["settled_months_kept"] = MetadataValue.json(
                {f"{month:%Y-%m}": f"sent {sent_at:%Y-%m-%d}, kept as sent" for month, sent_at in settled.items()})
        yield MaterializeResult(metadata=run_metadata)
        yield from check_events(context, model.name, results_by_partition)

    return _model_asset


def build_sql_assets(
    project: SqlProject, models: dict[str, Model] | None = None, group: str | None = None
) -> list[AssetsDefinition]:
    """The models' assets; with `group`, only the models of that group (one lineage stage)."""
    if models is None:
        models, source_assets = project.loaded
    else:
        source_assets = load_sources(project.directory)
    return [build_asset(model, models, source_assets, project)
            for model in models.values() if group is None or model.group == group]
