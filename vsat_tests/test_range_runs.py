"""A run over a range of months records each month's own figures and check results.

A single-run backfill builds three months in one step. Each month's latest materialisation
must carry that month's row count (not the range's or the table's), and each month's check
result must be recorded under that month (passed or failed, never left "planned", which the
UI shows as "Skipped").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from vsat_assets.contractor_sim.simulate import simulate_returns

MONTHS = ("2025-04-01", "2025-05-01", "2025-06-01")
TO_HANDOFF = (
    "offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility", "eligible_victims",
    "sampling_frame", "sampled_cohort", "exclusion_audit", "contractor_handoff",
)
# asset -> its table and the column that places a row in a month
MONTH_COUNTS = {
    "raw_reports": ("raw.reports", "report_date"),
    "victim_eligibility": ("intermediate.victim_eligibility", "report_date"),
    "sampled_cohort": ("intermediate.sampled_cohort", "report_date"),
    "exclusion_audit": ("marts.exclusion_audit", "month_start"),
    "survey_responses": ("staging.survey_responses", "sampling_month"),
}
DONE = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


def _latest_metadata(instance, asset: str, month: str) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[month]), limit=1
    ).records
    assert records, f"{asset} {month}: no materialisation"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def _partitioned_check_keys(asset: str) -> list[AssetCheckKey]:
    from vsat_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return [key for key in graph.asset_check_keys if key.asset_key == AssetKey(asset)]


@pytest.mark.slow
def test_a_range_run_records_each_months_own_figures_and_checks(
    tmp_path: Path, monkeypatch, resources, materialize_vsat, dagster_instance, warehouse_rows, failure_messages
):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("VSAT_DATA_DIR", str(tmp_path / "data"))
    result = materialize_vsat(resources, partition_range=(MONTHS[0], MONTHS[-1]), selection=TO_HANDOFF)
    assert result.success, failure_messages(result)
    for handoff in sorted((tmp_path / "outbox").glob("handoff_*.csv")):
        simulate_returns(handoff, tmp_path / "inbox")
    result = materialize_vsat(resources, partition_range=(MONTHS[0], MONTHS[-1]), selection=["survey_responses"])
    assert result.success, failure_messages(result)

    for asset, (table, column) in MONTH_COUNTS.items():
        counts = []
        for month in MONTHS:
            (expected,), = warehouse_rows(
                resources["warehouse"],
                f"SELECT count(*) FROM {table} WHERE date_trunc('month', {column}) = CAST(? AS DATE)", [month])
            assert expected > 0, f"{table} has no rows for {month}"
            assert _latest_metadata(dagster_instance, asset, month)["dagster/row_count"] == expected, (asset, month)
            counts.append(expected)
        assert len(set(counts)) > 1 or asset == "exclusion_audit", f"{asset}: the months should differ"

    handed_off = [_latest_metadata(dagster_instance, "contractor_handoff", m)["rows_written"] for m in MONTHS]
    for month, rows in zip(MONTHS, handed_off):
        lines = (tmp_path / "outbox" / f"handoff_{month[:7]}.csv").read_text().count("\n")
        assert rows == lines - 1, month

    checked_assets = ("raw_reports", "victim_eligibility", "sampling_frame", "sampled_cohort", "exclusion_audit",
                      "contractor_handoff", "survey_responses")
    check_keys = [key for asset in checked_assets for key in _partitioned_check_keys(asset)]
    assert len(check_keys) > 10
    for key in check_keys:
        for month in MONTHS:
            history = dagster_instance.event_log_storage.get_asset_check_execution_history(
                key, limit=1, partition_filter=PartitionKeyFilter(key=month))
            assert history, f"{key.to_user_string()} {month}: no result recorded"
            assert history[0].status in DONE, f"{key.to_user_string()} {month}: {history[0].status}"
            assert history[0].partition == month
            # ... and points at that month's own materialisation (the UI links the result to it)
            target = history[0].event.dagster_event.asset_check_evaluation_data.target_materialization_data
            latest = dagster_instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key.asset_key, asset_partitions=[month]), limit=1).records[0]
            assert target is not None and target.storage_id == latest.storage_id, f"{key.to_user_string()} {month}"
