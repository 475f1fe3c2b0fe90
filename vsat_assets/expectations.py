"""Run a Great Expectations 1.x suite on a pandas frame. GX is imported here, on first use only:
it takes seconds to import, far too long for code-location load."""

import os
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class SuiteResult:
    success: bool
    evaluated: int
    failures: list[str]   # expectation type and column, never a value from the data


def validate(frame: pd.DataFrame, name: str, expectations: list[tuple[str, dict]]) -> SuiteResult:
    """`expectations`: (GX expectation class name, its arguments), e.g.
    ("ExpectColumnValuesToBeInSet", {"column": "survey_strand", "value_set": [...]})."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe(name)
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=name)
    for expectation_type, kwargs in expectations:
        suite.add_expectation(getattr(gx.expectations, expectation_type)(**kwargs))
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")
    failures = [
        f"{r.expectation_config.type} {r.expectation_config.kwargs.get('column', '')}".strip()
        for r in result.results
        if not r.success
    ]
    return SuiteResult(success=result.success, evaluated=len(result.results), failures=failures)
