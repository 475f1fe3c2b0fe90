"""Each partition's own figures when one run materialises a range of partitions.

A single-run backfill builds a range of months in one step. Left to itself Dagster copies
the step's metadata onto every month and files an `AssetCheckResult` under no partition,
so the UI shows the range's figures on each month and every partitioned check as
"Skipped". Here each month's metadata goes to `add_asset_metadata(partition_key=...)`,
and each month's check result becomes an `AssetCheckEvaluation` with its `partition`.
"""

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    Output,
    PartitionsDefinition,
    PreviewWarning,
)
# Not re-exported at dagster's top level: links each month's check result to that month's materialisation.
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData


@dataclass(frozen=True)
class PartitionWindow:
    key: str
    start: date
    end: date


def partitioned_check_spec(name: str, asset: str, partitions_def: PartitionsDefinition | None, **kwargs) -> AssetCheckSpec:
    """A check spec with the asset's partitions, so the UI keeps one result per partition."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # partitioned checks are a preview feature, used knowingly
        return AssetCheckSpec(name, asset=asset, partitions_def=partitions_def, **kwargs)


def partition_windows(context, partitions_def: PartitionsDefinition) -> list[PartitionWindow]:
    """The run's partitions, each with its own [start, end) window, in order."""
    windows = []
    for key in context.partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        windows.append(PartitionWindow(key, window.start.date(), window.end.date()))
    return windows


def add_partition_metadata(context, metadata_by_partition: Mapping[str, Mapping]) -> None:
    for key, metadata in metadata_by_partition.items():
        context.add_asset_metadata(dict(metadata), partition_key=key)


def _latest_materializations(instance, asset_key: AssetKey, partitions: Sequence[str]) -> dict:
    """Each partition's latest materialisation: two storage queries, whatever the number of partitions."""
    if not partitions:  # an empty set would ask the storage for every partition
        return {}
    latest = instance.event_log_storage.get_latest_storage_id_by_partition(
        asset_key, DagsterEventType.ASSET_MATERIALIZATION, set(partitions))
    if not latest:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, storage_ids=list(latest.values())), limit=len(latest)).records
    return {
        record.partition_key: AssetCheckEvaluationTargetMaterializationData(
            run_id=record.event_log_entry.run_id, storage_id=record.storage_id, timestamp=record.timestamp)
        for record in records
    }


def check_events(
    context, asset: str | AssetKey, results_by_partition: Mapping[str, Sequence[AssetCheckResult]]
) -> Iterator[AssetCheckEvaluation | Output]:
    """Yield each partition's check results as evaluations of that partition, then each check's output.

    Call after the asset's own result has been yielded, so each evaluation points at the
    materialisation of its partition. A failed blocking check still fails the step (Dagster
    raises after the step's events), after every month's result is recorded.
    """
    op_context = getattr(context, "op_execution_context", context)
    assets_def, selected = op_context.assets_def, op_context.selected_asset_check_keys
    asset_key = AssetKey.from_coercible(asset)
    evaluated: list[AssetCheckKey] = []
    targets = _latest_materializations(op_context.instance, asset_key, list(results_by_partition))
    for partition, results in results_by_partition.items():
        target = targets.get(partition)
        for result in results:
            key = AssetCheckKey(asset_key, result.check_name)
            if key not in selected:
                continue
            yield AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=result.check_name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                blocking=assets_def.get_spec_for_check_key(key).blocking,
                partition=partition,
                target_materialization_data=target,
            )
            if key not in evaluated:
                evaluated.append(key)
    for key in evaluated:
        yield Output(None, output_name=assets_def.get_output_name_for_asset_check_key(key))


class _OnePartition:
    """The check's context, narrowed to one partition of the run."""

    def __init__(self, context, window):
        self._context, self.partition_time_window = context, window

    def __getattr__(self, name):
        return getattr(self._context, name)


def each_partition(check_fn: Callable[..., AssetCheckResult]) -> Callable[..., Iterator]:
    """Wrap a partitioned @asset_check body so that it runs once per partition of the run,
    each time with `context.partition_time_window` the partition's own, and records each
    result under its partition. Put it under `@asset_check(..., partitions_def=...)`."""

    @functools.wraps(check_fn)
    def run_each(context, **resources) -> Iterator:
        spec = next(iter(context.check_specs))
        with contextlib.ExitStack() as held:
            # One connection for all the months: a warehouse's get_connection inside is that one, so
            # its writer lock is held for the whole check, Great Expectations' validation included.
            # Duck-typed: this library imports nothing of the domain (a test checks).
            for resource in resources.values():
                if hasattr(resource, "get_connection"):
                    held.enter_context(resource.get_connection())
            results = {
                key: [check_fn(_OnePartition(context, spec.partitions_def.time_window_for_partition_key(key)),
                               **resources)._replace(check_name=spec.name)]
                for key in context.partition_keys
            }
        yield from check_events(context, spec.asset_key, results)

    return run_each


def checks_by_partition(
    windows: Iterable[PartitionWindow], evaluate: Callable[[PartitionWindow], Sequence[AssetCheckResult]]
) -> dict[str, list[AssetCheckResult]]:
    return {window.key: list(evaluate(window)) for window in windows}
