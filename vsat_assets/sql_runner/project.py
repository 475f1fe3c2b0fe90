"""What a domain hands the runner: its folder of models, partitions, variables, functions, redaction."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext, PartitionsDefinition

from vsat_assets.sql_runner.build import Redaction
from vsat_assets.sql_runner.models import Model, ModelError, discover_models, load_sources, render
from vsat_assets.sql_runner.redaction import hide_literals

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb


def _nothing_to_prepare(context, conn, model, window) -> None:
    return None


@dataclass(frozen=True)
class SqlProject:
    """A folder of SQL models and what its domain hands the runner.

    `variables(resources)` gives the values of `{{ var() }}` (resources is None outside a run,
    e.g. for `compile`); `prepare(context, conn, model, window)` readies the warehouse
    connection before a build (registers the functions the SQL calls, and whatever else the
    domain needs first); `redact(message, identifiers)` cleans DuckDB's error messages;
    `partitions` maps a model's `partitioned_by` to its Dagster partitions; the asset
    functions ask for `resource_keys` and the DuckDB resource under `warehouse_key`.
    """

    directory: Path
    partitions: Mapping[str, PartitionsDefinition]
    variables: Callable[[Any], dict]
    prepare: "Callable[[AssetExecutionContext, duckdb.DuckDBPyConnection, Model, tuple | None], None]" = (
        _nothing_to_prepare)
    redact: Redaction = hide_literals
    resource_keys: frozenset[str] = frozenset()
    warehouse_key: str = "warehouse"

    def models(self) -> dict[str, Model]:
        return discover_models(self.directory)

    @cached_property
    def loaded(self) -> tuple[dict[str, Model], dict[tuple[str, str], str | None]]:
        """The models and sources, read once (each stage's definitions build their own assets)."""
        return self.models(), load_sources(self.directory)

    def window(self, model: Model, partition: str | None) -> tuple[date, date] | None:
        """The window of `model`'s partition `partition` (a partition key, e.g. 2024-05-01)."""
        if model.partitioned_by == "none":
            if partition:
                raise ModelError(f"{model.name} is not partitioned: leave out --partition")
            return None
        if not partition:
            raise ModelError(f"{model.name} is partitioned by {model.partitioned_by}: give --partition YYYY-MM-DD")
        partitions_def = self.partitions[model.partitioned_by]
        if not partitions_def.has_partition_key(partition):
            raise ModelError(f"{model.name}: no {model.partitioned_by} partition '{partition}' "
                             f"(keys look like {partitions_def.get_first_partition_key()})")
        window = partitions_def.time_window_for_partition_key(partition)
        return window.start.date(), window.end.date()

    def compile(self, model_name: str, partition: str | None = None) -> str:
        """The model's SQL as it runs for `partition`, every {{ }} filled in."""
        models = self.models()
        if model_name not in models:
            raise ModelError(f"unknown model '{model_name}'; models: {', '.join(sorted(models))}")
        model = models[model_name]
        return render(model, models, self.variables(None), self.window(model, partition))
