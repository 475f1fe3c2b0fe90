"""`make demo`: run the survey for two financial years on the built-in data, end to end.

For each of 2024/25 and 2025/26, through the same named jobs the schedules and the sensor run:

1. `monthly_survey_job` over the year's months (raw reports to the hand-off), in one run;
2. the contractor stand-in answers each month's hand-off;
3. `survey_responses_job` ingests the returns (opt-outs among them keep people out of later months);

then `annual_satisfaction_job` for both years in one run (2025/26 is compared with 2024/25),
`pcc_quarterly_pack_job` for the last quarter (January to March 2026) and `retention_job`. Prints
the survey funnel and the headline table with the change on last year.

The demo's clock stands at its own date, not the machine's: the day the last month's hand-off is
sent (1 April 2026, `DEMO_TODAY`), through VSAT_TODAY (`vsat_assets/clock.py`). Hand-offs are sent,
opt-outs recorded and retention applied as of that day, so the months whose contact windows closed
within the retention period keep their names and phones and can still be re-opened, as they would
on the day the demo pretends it is. VSAT_TODAY set beforehand (`make demo` sets it) wins.
"""

import os
import sys
import time
from datetime import date

import duckdb
from dagster import DagsterInstance

from vsat_assets import cli, clock, settings
from vsat_assets.defs.annual.report import report_path
from vsat_assets.contractor_sim.profiles import handoff_survey_ids, profiles_from_reports
from vsat_assets.contractor_sim.simulate import simulate_returns
from vsat_assets.definitions import defs
from vsat_assets.defs.handoff.assets import retention_run_config
from vsat_assets.defs.annual.jobs import annual_satisfaction_job
from vsat_assets.defs.handoff.jobs import monthly_survey_job, retention_job
from vsat_assets.defs.quarterly.assets import pack_paths
from vsat_assets.defs.quarterly.quarters import quarter_key_of
from vsat_assets.defs.quarterly.schedules import pcc_quarterly_pack_job
from vsat_assets.defs.responses.jobs import survey_responses_job
from vsat_assets.vocabulary import QUESTIONS

# (financial year, the first and last months built of it), in order.
DEMO_YEARS = (("2024/25", "2024-04-01", "2025-03-01"), ("2025/26", "2025-04-01", "2026-03-01"))
# The runs' progress lines, without Dagster's per-event debug lines (all of them are in `make ui`).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def demo_today(years=DEMO_YEARS) -> date:
    """The demo's date: the first of the month after its last month, when that month's hand-off
    is sent (the default handoff_day)."""
    last = date.fromisoformat(years[-1][2])
    return date(last.year + last.month // 12, last.month % 12 + 1, 1)


DEMO_TODAY = demo_today()


def _instance() -> DagsterInstance:
    # With DAGSTER_HOME set (the Makefile sets it), `make ui` shows the demo's runs.
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()


def run_job(instance: DagsterInstance, job_name: str, first: str | None = None, last: str | None = None,
            run_config: dict | None = None) -> None:
    """One run of a named job (as the schedules launch it) over partitions first..last, or one partition."""
    partitions = {}
    if first and last and first != last:
        partitions = {"tags": {RANGE_START: first, RANGE_END: last}}
    elif first:
        partitions = {"partition_key": first}
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, raise_on_error=False, run_config={**QUIET, **(run_config or {})}, **partitions,
    )
    if not result.success:
        sys.exit(f"the demo run {result.run_id} of {job_name} failed: see the log above (or `make ui`, Runs)")


def answer_handoffs(first: str, last: str) -> None:
    """The stand-in plays the contractor from the planted truth, for the hand-offs of months
    first..last. The simulation harness reads each victim's area, age band and ethnic group from
    the records export as landed (raw.reports, matched by recomputing the survey_id pseudonym),
    never from the pipeline's own tables or the hand-off."""
    outbox, inbox = settings.data_dir() / "outbox", settings.data_dir() / "inbox"
    handoffs = [h for h in sorted(outbox.glob("handoff_*.csv"))
                if first[:7] <= h.stem.removeprefix("handoff_") <= last[:7]]
    profiles = profiles_from_reports(settings.warehouse_path(), settings.pseudonym_key()[0],
                                     handoff_survey_ids(handoffs))
    for handoff in handoffs:
        returns = simulate_returns(handoff, inbox, profiles=profiles)
        print(f"contractor stand-in: {handoff.name} -> {returns.name}")


def year_key(financial_year: str) -> str:
    """The financial-year partition key: '2025/26' -> '2025-04-01'."""
    return f"{financial_year[:4]}-04-01"


def print_results(years=DEMO_YEARS) -> None:
    (previous_year, first_month, _), (demo_year, demo_first_month, last_month) = years[-2], years[-1]
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        print(f"\nThe survey funnel, {previous_year} and {demo_year} (victims of reports, April to March):")
        conn.sql(
            f"""PIVOT (UNPIVOT (SELECT CASE WHEN month_start < DATE '{demo_first_month}' THEN '{previous_year}'
                                            ELSE '{demo_year}' END AS financial_year,
                                       COLUMNS(* EXCLUDE (month, month_start, force_code, survey_strand, area))
                                FROM marts.survey_funnel
                                WHERE month_start BETWEEN '{first_month}' AND '{last_month}')
                        ON COLUMNS(* EXCLUDE financial_year) INTO NAME stage VALUE victims)
                ON financial_year USING sum(victims) ORDER BY stage"""
        ).show(max_rows=40)
        print(f"Headline results {demo_year}, general survey, whole force (weighted, 95% interval), "
              f"and the change on {previous_year}:")
        conn.sql(
            f"""SELECT question, round(satisfied_pct, 1) AS satisfied_pct,
                       round(ci_low, 1) || '-' || round(ci_high, 1) AS interval_95, respondents,
                       round(satisfied_pct - change_vs_previous_pp, 1) AS "{previous_year}_pct",
                       round(change_vs_previous_pp, 1) AS change_pp,
                       CASE WHEN change_significant THEN 'significant' WHEN change_significant IS NOT NULL
                            THEN 'not significant' END AS change,
                       change_significant_fdr AS significant_fdr
                FROM marts.satisfaction_annual
                WHERE financial_year = '{demo_year}' AND survey_strand = 'ALL' AND area = 'ALL'
                ORDER BY list_position({list(QUESTIONS)}, question)"""
        ).show(max_width=160)
    print(f"Annual report: {report_path(demo_year)}")
    pack = pack_paths(quarter_key_of(date.fromisoformat(last_month)))
    print(f"PCC quarterly pack: {pack['html']} (spreadsheet: {pack['ods'].name}, {pack['xlsx'].name})")


def main(years=DEMO_YEARS, monthly_run_config: dict | None = None) -> None:
    """`monthly_run_config`: extra run config of the monthly runs (the tests make the generator small)."""
    cli.parser("python -m vsat_assets.demo", description="Run the two demo years end to end.").parse_args()
    started = time.perf_counter()
    settings.data_dir().mkdir(parents=True, exist_ok=True)
    os.environ[clock.VARIABLE] = os.environ.get(clock.VARIABLE) or demo_today(years).isoformat()
    print(f"The demo's date: {clock.today()} ({clock.VARIABLE}); its hand-offs are sent and retention "
          "applied as of that day")
    with _instance() as instance:
        for _, first, last in years:
            run_job(instance, monthly_survey_job.name, first, last, run_config=monthly_run_config)
            answer_handoffs(first, last)
            run_job(instance, survey_responses_job.name, first, last)
        run_job(instance, annual_satisfaction_job.name, year_key(years[0][0]), year_key(years[-1][0]))
        run_job(instance, pcc_quarterly_pack_job.name, quarter_key_of(date.fromisoformat(years[-1][2])))
        run_job(instance, retention_job.name, run_config=retention_run_config(clock.today().isoformat()))
    print(f"\nBuilt {settings.warehouse_path()} in {time.perf_counter() - started:.1f} s; "
          f"analysts' copy: {settings.data_dir() / 'vsat_analytics.duckdb'}")
    print_results(years)


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.demo")
