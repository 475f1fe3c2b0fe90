"""Run a Great Expectations 1.x suite on a pandas frame. GX is imported here, on first use only:
it takes seconds to import, far too long for code-location load."""

import os
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class SuiteResult:
    success: bool
    evaluated: int
    failures: list[str]   # expectation type and column, never a value from the data
    # per failure: the expectation, its column, what was expected, how many rows broke it and a few of
    # their values (the frames validated hold no personal data: see the callers)
    details: list[dict] = field(default_factory=list)


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
    result = batch.validate(suite, result_format="SUMMARY")
    failed = [r for r in result.results if not r.success]
    failures = [f"{r.expectation_config.type} {r.expectation_config.kwargs.get('column', '')}".strip() for r in failed]
    return SuiteResult(success=result.success, evaluated=len(result.results), failures=failures,
                       details=[_detail(r) for r in failed])


def _detail(outcome) -> dict:
    kwargs = outcome.expectation_config.kwargs
    expected = {k: kwargs[k] for k in ("value_set", "min_value", "max_value", "regex") if kwargs.get(k) is not None}
    found = outcome.result or {}
    return {
        "expectation": outcome.expectation_config.type,
        "column": kwargs.get("column"),
        "expected": {k: v if isinstance(v, (int, float, str)) else [str(x) for x in v] for k, v in expected.items()},
        "unexpected_rows": found.get("unexpected_count"),
        "unexpected_values": [str(v) for v in (found.get("partial_unexpected_list") or [])[:5]],
    }
