"""Yearly figures follow their inputs.

- A financial year's satisfaction_annual depends on the previous year's partition (it
  computes the change on last year): rebuilding 2024/25 after 2025/26 makes 2025/26 stale
  in Dagster, and rebuilding 2025/26 fills its changes in.
- satisfaction_rolling is rebuilt by the job that ingests each month's returns.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from dagster import AssetKey, AssetRecordsFilter
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from vsat_tests.test_annual_tables import Survey

YEAR_2024, YEAR_2025 = "2024-04-01", "2025-04-01"
ANNUAL = AssetKey("satisfaction_annual")


def _defs():
    from vsat_assets.definitions import defs

    return defs


def _resolver(instance) -> CachingStaleStatusResolver:
    """What the UI's "stale" badge reads."""
    return CachingStaleStatusResolver(instance, _defs().resolve_asset_graph(), LoadingContextForTest(instance))


def _changes(warehouse, year: str) -> list:
    with warehouse.get_connection() as conn:
        return [r[0] for r in conn.execute(
            "SELECT change_vs_previous_pp FROM marts.satisfaction_annual WHERE financial_year = ? "
            "AND survey_strand = 'ALL' AND area = 'ALL' ORDER BY question", [year]).fetchall()]


def _add_responses(warehouse, month: date, codes: list[int]) -> None:
    with warehouse.get_connection() as conn:
        survey = Survey.__new__(Survey)
        survey.conn, survey.count = conn, int(month.strftime("%Y%m")) * 1000
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        if not conn.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'staging' AND table_name = 'survey_responses'").fetchone()[0]:
            from vsat_tests.test_annual_tables import STAGING_DDL
            conn.execute(STAGING_DDL)
        for question in ("ease_of_contact", "actions_taken", "kept_informed", "treatment", "whole_experience"):
            survey.add(month, codes, question=question)


def _build_responses(materialize_vsat, resources, **partitions) -> None:
    """marts.responses, with the calibrated weight set to the design weight: there is no sampling
    frame here to rake to (calibration is tested in test_weighting.py)."""
    assert materialize_vsat(resources, selection=["responses"], **partitions).success
    with resources["warehouse"].get_connection() as conn:
        conn.execute("UPDATE marts.responses SET calibrated_weight = design_weight WHERE outcome = 'COMPLETE'")


def test_the_annual_table_depends_on_its_previous_year():
    graph = _defs().resolve_asset_graph()
    assert ANNUAL in graph.get(ANNUAL).parent_keys
    mapping = graph.get_partition_mapping(ANNUAL, ANNUAL)
    partitions = graph.get(ANNUAL).partitions_def
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        partitions.subset_with_partition_keys([YEAR_2025]), partitions, partitions, )
    assert list(upstream.partitions_subset.get_partition_keys()) == [YEAR_2024]


@pytest.mark.slow
def test_rebuilding_an_earlier_year_makes_the_next_year_stale_then_filled(
    resources, materialize_vsat, dagster_instance, failure_messages
):
    warehouse = resources["warehouse"]

    def build(partition: str, asset: str) -> None:
        result = materialize_vsat(resources, partition=partition, selection=[asset])
        assert result.success, failure_messages(result)

    # 2024/25 is built before its returns are in; then 2025/26, which has nothing to compare with.
    _add_responses(warehouse, date(2025, 6, 1), [1] * 80 + [5] * 20)
    _build_responses(materialize_vsat, resources, partition="2025-06-01")
    build(YEAR_2024, "satisfaction_annual")
    build(YEAR_2025, "satisfaction_annual")
    assert _changes(warehouse, "2025/26") == [None] * 5
    assert _resolver(dagster_instance).get_status(ANNUAL, YEAR_2025) == StaleStatus.FRESH

    # 2024/25's returns arrive and 2024/25 is rebuilt: Dagster marks 2025/26 stale because of it.
    _add_responses(warehouse, date(2024, 6, 1), [1] * 60 + [5] * 40)
    _build_responses(materialize_vsat, resources, partition="2024-06-01")
    build(YEAR_2024, "satisfaction_annual")
    resolver = _resolver(dagster_instance)
    assert resolver.get_status(ANNUAL, YEAR_2025) == StaleStatus.STALE
    causes = resolver.get_stale_root_causes(ANNUAL, YEAR_2025)
    assert [(c.key.asset_key, c.key.partition_key) for c in causes] == [(ANNUAL, YEAR_2024)], causes

    # Rebuilding 2025/26 fills its changes in.
    build(YEAR_2025, "satisfaction_annual")
    assert _changes(warehouse, "2025/26") == [pytest.approx(20.0)] * 5
    assert _resolver(dagster_instance).get_status(ANNUAL, YEAR_2025) == StaleStatus.FRESH


def test_the_rolling_table_is_rebuilt_with_each_months_returns_not_only_once_a_year():
    from vsat_assets.defs.annual.jobs import annual_satisfaction_job
    from vsat_assets.defs.responses.jobs import survey_responses_job

    graph = _defs().resolve_asset_graph()
    rolling = AssetKey("satisfaction_rolling")
    # The returns sensor launches survey_responses_job for each month's returns file, which
    # rebuilds marts.responses (every month of it is read) and then the rolling table.
    assert rolling in survey_responses_job.selection.resolve(graph)
    assert AssetKey("responses") in graph.get(rolling).parent_keys
    # It is also rebuilt when a year's calibrated weights are written.
    assert AssetKey("response_weights") in graph.get(rolling).parent_keys
    assert rolling in annual_satisfaction_job.selection.resolve(graph)
    assert graph.get(rolling).partitions_def is None


@pytest.mark.slow
def test_one_run_over_two_years_records_each_years_own_figures(
    resources, materialize_vsat, dagster_instance, failure_messages
):
    warehouse = resources["warehouse"]
    _add_responses(warehouse, date(2024, 6, 1), [1] * 60 + [5] * 40)
    _add_responses(warehouse, date(2025, 6, 1), [1] * 80 + [5] * 20 + [5] * 50)
    _build_responses(materialize_vsat, resources, partition_range=("2024-06-01", "2025-06-01"))
    result = materialize_vsat(resources, partition_range=(YEAR_2024, YEAR_2025), selection=["satisfaction_annual"])
    assert result.success, failure_messages(result)
    assert _changes(warehouse, "2025/26") == [pytest.approx(80 / 150 * 100 - 60.0)] * 5

    # _add_responses answers each question in its own interview: 5 x 100 interviews in 2024/25.
    for year, key, interviews_before, pct in (("2024/25", YEAR_2024, 0, "60.0"), ("2025/26", YEAR_2025, 500, "53.3")):
        [record] = dagster_instance.fetch_materializations(
            AssetRecordsFilter(asset_key=ANNUAL, asset_partitions=[key]), limit=1).records
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        with warehouse.get_connection() as conn:
            rows = conn.execute(
                "SELECT count(*) FROM marts.satisfaction_annual WHERE financial_year = ?", [year]).fetchone()[0]
        assert metadata["dagster/row_count"] == rows
        assert metadata["previous_year_interviews"] == interviews_before
        assert f"| Whole experience | {pct} |" in metadata["headlines"], year
