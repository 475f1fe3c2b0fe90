"""Survey responses: the contractor's returns for a sampling month, checked, linked and stored."""

from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    ConfigurableResource,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from vsat_assets import settings
from vsat_assets.partitions import monthly_partitions, months_in
from vsat_assets.responses.returns import QUESTIONS, check_month, read_returns, returns_name, triage_sql
from vsat_assets.sampling.opt_outs import REGISTER
from vsat_assets.warehouse import ensure_schemas, scalar, transaction

RESPONSES_TABLE = "staging.survey_responses"
QUARANTINE_TABLE = "ops.returns_quarantine"
NO_QUARANTINED_ROWS = "no_quarantined_rows"
EVERY_RESPONSE_LINKED = "every_response_linked"

_RESPONSE_COLUMNS = (
    "sampling_month DATE, survey_id VARCHAR, outcome VARCHAR, interview_date DATE, "
    + ", ".join(f"{q} INTEGER" for q in QUESTIONS)
    + ", force_code VARCHAR, survey_strand VARCHAR, policing_area VARCHAR, victim_ethnicity VARCHAR, "
    "design_weight DOUBLE, returns_file VARCHAR"
)


class ContractorInbox(ConfigurableResource):
    inbox: str = Field(default="", description="Folder the contractor's returns arrive in; default <data>/inbox.")

    def inbox_dir(self) -> Path:
        return Path(self.inbox) if self.inbox else settings.data_dir() / "inbox"


@asset(
    group_name="responses",
    kinds={"duckdb", "csv"},
    deps=["contractor_handoff"],
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "The contractor's outcomes and answers for a sampling month, linked to strand, area and design weight "
        "through the survey_id. A malformed file is rejected whole; faulty rows go to ops.returns_quarantine; "
        "OPT_OUT outcomes join the opt-out register."
    ),
    metadata={"dagster/table_name": RESPONSES_TABLE},
    check_specs=[
        AssetCheckSpec(NO_QUARANTINED_ROWS, asset="survey_responses",
                       description="Every returned row was accepted (none quarantined)."),
        AssetCheckSpec(EVERY_RESPONSE_LINKED, asset="survey_responses", blocking=True,
                       description="Every accepted response has a strand, an area and a design weight."),
    ],
)
def survey_responses(
    context: AssetExecutionContext, warehouse: DuckDBResource, contractor_inbox: ContractorInbox
) -> MaterializeResult:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    inbox = contractor_inbox.inbox_dir()
    files = {month: read_returns(inbox, month) for month in months_in(start, end)}  # file faults raise here
    faults: dict[str, int] = {}
    accepted = opted_out = 0
    with warehouse.get_connection() as conn:
        ensure_schemas(conn)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {RESPONSES_TABLE} ({_RESPONSE_COLUMNS})")
        with transaction(conn):
            conn.execute(f"DELETE FROM {RESPONSES_TABLE} WHERE sampling_month >= ? AND sampling_month < ?", [start, end])
            conn.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE sampling_month >= ? AND sampling_month < ?", [start, end])
            for month, returned in files.items():
                name = returns_name(month)
                conn.register("incoming_returns", returned.to_arrow())
                check_month(conn, name, month)
                conn.execute(f"CREATE OR REPLACE TEMP TABLE triaged AS {triage_sql()}", {"month": month})
                conn.execute(
                    f"""INSERT INTO {RESPONSES_TABLE}
                        SELECT sampling_month, survey_id, outcome, interview_date, {", ".join(QUESTIONS)},
                               force_code, survey_strand, policing_area, victim_ethnicity, design_weight, ?
                        FROM triaged WHERE fault IS NULL""",
                    [name],
                )
                conn.execute(
                    f"""INSERT INTO {QUARANTINE_TABLE}
                        SELECT ?, ?, row_number, survey_id, fault_column, fault FROM triaged WHERE fault IS NOT NULL""",
                    [month, name],
                )
                before = scalar(conn, f"SELECT count(*) FROM {REGISTER}")
                conn.execute(
                    f"""INSERT INTO {REGISTER} (person_key, phone_key, opted_out_on, channel, source)
                        SELECT DISTINCT t.person_key, t.phone_key, t.interview_date, 'CONTRACTOR_RETURNS', ?
                        FROM triaged t
                        WHERE t.fault IS NULL AND t.outcome = 'OPT_OUT'
                          AND NOT EXISTS (SELECT 1 FROM {REGISTER} r
                                          WHERE r.person_key IS NOT DISTINCT FROM t.person_key
                                            AND r.phone_key IS NOT DISTINCT FROM t.phone_key)""",
                    [name],
                )
                opted_out += scalar(conn, f"SELECT count(*) FROM {REGISTER}") - before
                month_faults = dict(conn.execute(
                    "SELECT fault, count(*) FROM triaged WHERE fault IS NOT NULL GROUP BY ALL").fetchall())
                month_accepted = scalar(conn, "SELECT count(*) FROM triaged WHERE fault IS NULL")
                accepted += month_accepted
                for fault, n in month_faults.items():
                    faults[fault] = faults.get(fault, 0) + n
                context.log.info(
                    f"{name}: {month_accepted} rows accepted, {sum(month_faults.values())} quarantined"
                )
        outcomes = dict(conn.execute(
            f"SELECT outcome, count(*) FROM {RESPONSES_TABLE} WHERE sampling_month >= ? AND sampling_month < ? "
            "GROUP BY ALL", [start, end]).fetchall())
        unlinked = conn.execute(
            f"""SELECT count(*) FROM {RESPONSES_TABLE} WHERE sampling_month >= ? AND sampling_month < ?
                AND (survey_strand IS NULL OR policing_area IS NULL OR design_weight IS NULL)""",
            [start, end]).fetchone()[0]
    return MaterializeResult(
        metadata={
            "rows_accepted": accepted,
            "rows_quarantined": sum(faults.values()),
            "outcomes": MetadataValue.json(outcomes),
            "new_opt_outs": opted_out,
        },
        check_results=[
            AssetCheckResult(check_name=NO_QUARANTINED_ROWS, passed=not faults,
                             severity=AssetCheckSeverity.WARN,
                             metadata={"quarantined_by_reason": MetadataValue.json(faults)}),
            AssetCheckResult(check_name=EVERY_RESPONSE_LINKED, passed=unlinked == 0,
                             metadata={"unlinked_responses": unlinked}),
        ],
    )
