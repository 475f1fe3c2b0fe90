"""`make demo`: run the survey for the demo financial year on the built-in data, end to end.

1. the monthly lineage (raw reports to the hand-off) for April 2025 - March 2026, in one run;
2. the contractor stand-in answers each month's hand-off;
3. the returns are ingested;
4. the annual tables, HMICFRS export and annual report of 2025/26;
5. today's retention purge (the demo year's contact windows closed long ago);
then print the survey funnel and the headline table.
"""

import os
import sys
import time

import duckdb
from dagster import AssetSelection, DagsterInstance, materialize

from vsat_assets import cli, settings
from vsat_assets.contractor_sim.profiles import profiles_from_reports
from vsat_assets.contractor_sim.simulate import simulate_returns
from vsat_assets.definitions import defs
from vsat_assets.annual.report import report_path
from vsat_assets.jobs import annual_satisfaction_job, monthly_survey_job, retention_job, survey_responses_job

DEMO_FIRST_MONTH = "2025-04-01"
DEMO_LAST_MONTH = "2026-03-01"
DEMO_YEAR = "2025/26"
DEMO_YEAR_KEY = "2025-04-01"
# The runs' progress lines, without Dagster's per-event debug lines (all of them are in `make ui`).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _instance() -> DagsterInstance:
    # With DAGSTER_HOME set (the Makefile sets it), `make ui` shows the demo's runs.
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()


def run(instance: DagsterInstance, selection: AssetSelection, first: str, last: str | None = None) -> None:
    """One run of the selection over the partitions first..last (or the single partition `first`)."""
    partitions = (
        {"tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}}
        if last else {"partition_key": first}
    )
    result = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection,
        resources=defs.resources,
        instance=instance,
        raise_on_error=False,
        run_config=QUIET,
        **partitions,
    )
    if not result.success:
        sys.exit(f"the demo run {result.run_id} failed: see the log above (or `make ui`, Runs)")


def answer_handoffs() -> None:
    """The stand-in plays the contractor from the planted truth. The simulation harness reads
    each victim's area, age band and ethnic group from the records export as landed
    (raw.reports, matched by recomputing the survey_id pseudonym), never from the
    pipeline's own tables or the hand-off."""
    profiles = profiles_from_reports(settings.warehouse_path(), settings.pseudonym_key()[0])
    outbox, inbox = settings.data_dir() / "outbox", settings.data_dir() / "inbox"
    for handoff in sorted(outbox.glob("handoff_*.csv")):
        returns = simulate_returns(handoff, inbox, profiles=profiles)
        print(f"contractor stand-in: {handoff.name} -> {returns.name}")


def purge_past_retention(instance: DagsterInstance) -> None:
    """The demo year's contact windows closed months ago: today's purge removes its names and phones."""
    result = materialize(
        [*defs.assets, *defs.asset_checks], selection=retention_job.selection,
        resources=defs.resources, instance=instance, raise_on_error=False, run_config=QUIET,
    )
    if not result.success:
        sys.exit(f"the retention purge {result.run_id} failed: see the log above")


def print_results() -> None:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        print(f"\nThe survey funnel, demo year {DEMO_YEAR} (victims of reports, April to March):")
        conn.sql(
            f"""UNPIVOT (SELECT sum(COLUMNS(* EXCLUDE (month, month_start, force_code, survey_strand, area)))
                        FROM marts.survey_funnel
                        WHERE month_start BETWEEN '{DEMO_FIRST_MONTH}' AND '{DEMO_LAST_MONTH}')
                ON COLUMNS(*) INTO NAME stage VALUE victims"""
        ).show(max_rows=40)
        print(f"Headline results {DEMO_YEAR}, general survey, whole force (weighted, 95% interval):")
        conn.sql(
            f"""SELECT question, round(satisfied_pct, 1) AS satisfied_pct,
                       round(ci_low, 1) || '-' || round(ci_high, 1) AS interval_95, respondents,
                       round(change_vs_previous_pp, 1) AS change_pp, change_significant AS significant,
                       change_significant_fdr AS significant_fdr
                FROM marts.satisfaction_annual
                WHERE financial_year = '{DEMO_YEAR}' AND survey_strand = 'ALL' AND area = 'ALL'
                ORDER BY list_position(['ease_of_contact', 'actions_taken', 'kept_informed', 'treatment',
                                        'whole_experience'], question)"""
        ).show()
    print(f"Annual report: {report_path(DEMO_YEAR)}")


def main() -> None:
    cli.parser("python -m vsat_assets.demo", description="Run the demo year end to end.").parse_args()
    started = time.perf_counter()
    settings.data_dir().mkdir(parents=True, exist_ok=True)
    with _instance() as instance:
        run(instance, monthly_survey_job.selection | AssetSelection.assets("opt_out_register"),
            DEMO_FIRST_MONTH, DEMO_LAST_MONTH)
        answer_handoffs()
        run(instance, survey_responses_job.selection, DEMO_FIRST_MONTH, DEMO_LAST_MONTH)
        run(instance, annual_satisfaction_job.selection, DEMO_YEAR_KEY)
        purge_past_retention(instance)
    print(f"\nBuilt {settings.warehouse_path()} in {time.perf_counter() - started:.1f} s; "
          f"analysts' copy: {settings.data_dir() / 'vsat_analytics.duckdb'}")
    print_results()


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.demo")
