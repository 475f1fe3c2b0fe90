"""Survey responses: the contractor's returns for a sampling month, checked, linked and stored."""

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    ConfigurableResource,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from vsat_assets.sql_project import sql_assets
from vsat_assets import settings
from vsat_assets.crash import crash_point
from vsat_assets.sql_runner.partition_results import add_partition_metadata, check_events, partition_windows, partitioned_check_spec
from vsat_assets.partitions import monthly_partitions
from vsat_assets.defs.responses.returns import (
    QUESTIONS,
    ReturnsFileError,
    check_month,
    opt_outs_in_rejected_file,
    read_returns,
    returns_name,
    triage_sql,
)
from vsat_assets.defs.sampling.opt_outs import record_contractor_opt_outs, register_changed
from vsat_assets.warehouse import WarehouseResource, ensure_schemas, scalar, table_exists, transaction

if TYPE_CHECKING:  # imported where used: not at code-location load
    import duckdb
    import polars as pl


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


def ingest_month(conn: "duckdb.DuckDBPyConnection", month: date, returned: "pl.DataFrame") -> tuple[int, dict, int]:
    """Store a month's returned rows (accepted or quarantined) and its opt-outs, inside the caller's
    transaction, after its window was emptied; returns (accepted, faults by reason, new opt-outs)."""
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
    opted_out = record_opt_outs(conn, name)
    faults = dict(conn.execute("SELECT fault, count(*) FROM triaged WHERE fault IS NOT NULL GROUP BY ALL").fetchall())
    accepted = scalar(conn, "SELECT count(*) FROM triaged WHERE fault IS NULL")
    return accepted, faults, opted_out


def record_opt_outs(conn: "duckdb.DuckDBPyConnection", file: str) -> int:
    """Every OPT_OUT of the triaged file joins the register, whatever else is wrong with its row
    (a duplicate, a missing or impossible interview date, stray answers): the row's faults still
    go to the quarantine, but the person's wish is honoured."""
    return record_contractor_opt_outs(
        conn, "SELECT survey_id, interview_date FROM triaged WHERE upper(outcome) = 'OPT_OUT'", file
    )


class ReturnsRun(Config):
    replace_stored_responses: bool = Field(
        default=False,
        description="Accept a returns file that would drop responses already stored for its month (a "
        "corrected file from the contractor that is meant to have fewer rows). Without it such a file is refused.",
    )


class ReturnsWouldDropResponses(ReturnsFileError):
    """A replacement returns file would lose responses already stored."""


def stored_before(conn: "duckdb.DuckDBPyConnection", start: date, end: date) -> None:
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE responses_stored_before AS SELECT sampling_month, survey_id
            FROM {RESPONSES_TABLE} WHERE sampling_month >= ? AND sampling_month < ?""",
        [start, end],
    )


def refuse_dropping_responses(conn: "duckdb.DuckDBPyConnection") -> None:
    """Raise if a stored response of the window is not among the ones just ingested."""
    dropped = conn.execute(
        f"""SELECT b.sampling_month, count(*) FILTER (WHERE r.survey_id IS NULL), count(*)
            FROM responses_stored_before b
            LEFT JOIN {RESPONSES_TABLE} r USING (sampling_month, survey_id)
            GROUP BY ALL HAVING count(*) FILTER (WHERE r.survey_id IS NULL) > 0 ORDER BY 1"""
    ).fetchall()
    if dropped:
        month, lost, stored = dropped[0]
        raise ReturnsWouldDropResponses(
            returns_name(month),
            f"this file would drop {lost} of the {stored} responses stored for {month:%Y-%m}; nothing was changed. "
            "If the contractor's corrected file is meant to replace them, run again with the run config "
            "`replace_stored_responses: true` (docs/inputs.md, 'The contractor stand-in and the returns')",
        )


def store_returns(conn, start: date, end: date, windows, files: dict, config: ReturnsRun, log) -> dict:
    """Replace the window's responses and quarantine with the files' rows in one transaction;
    returns (accepted, faults by reason, new opt-outs) per partition key."""
    ingested: dict[str, tuple[int, dict, int]] = {}
    with transaction(conn):
        stored_before(conn, start, end)
        conn.execute(f"DELETE FROM {RESPONSES_TABLE} WHERE sampling_month >= ? AND sampling_month < ?", [start, end])
        conn.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE sampling_month >= ? AND sampling_month < ?", [start, end])
        for w in windows:
            ingested[w.key] = accepted, faults, _ = ingest_month(conn, w.start, files[w.start])
            log(f"{returns_name(w.start)}: {accepted} rows accepted, {sum(faults.values())} quarantined")
        if not config.replace_stored_responses:
            refuse_dropping_responses(conn)
        crash_point("returns.before_commit")
    crash_point("returns.committed")
    return ingested


def honour_opt_outs_of_rejected(conn: "duckdb.DuckDBPyConnection", inbox: Path, months: list[date]) -> int:
    """The new register entries from the opt-outs of the window's rejected files."""
    prepare_tables(conn)
    if not table_exists(conn, "intermediate.sampling_frame"):
        return 0
    with transaction(conn):
        return sum(record_salvaged_opt_outs(conn, month, opt_outs_in_rejected_file(inbox, month)) for month in months)


def record_salvaged_opt_outs(conn: "duckdb.DuckDBPyConnection", month: date, survey_ids: list[str]) -> int:
    """The opt-outs of a file rejected whole (see opt_outs_in_rejected_file), dated from the window."""
    import polars as pl
    conn.register("salvaged_opt_outs", pl.DataFrame({"survey_id": survey_ids}, schema={"survey_id": pl.String}).to_arrow())
    added = record_contractor_opt_outs(conn, "SELECT survey_id, NULL::DATE FROM salvaged_opt_outs",
                                       returns_name(month))
    conn.unregister("salvaged_opt_outs")
    return added


def prepare_tables(conn: "duckdb.DuckDBPyConnection") -> None:
    ensure_schemas(conn)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {RESPONSES_TABLE} ({_RESPONSE_COLUMNS})")


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
        partitioned_check_spec(NO_QUARANTINED_ROWS, "survey_responses", monthly_partitions,
                               description="Every returned row was accepted (none quarantined)."),
        partitioned_check_spec(EVERY_RESPONSE_LINKED, "survey_responses", monthly_partitions, blocking=True,
                               description="Every accepted response has a strand, an area and a design weight."),
    ],
)
def survey_responses(
    context: AssetExecutionContext, config: ReturnsRun, warehouse: WarehouseResource, contractor_inbox: ContractorInbox
):
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    inbox = contractor_inbox.inbox_dir()
    windows = partition_windows(context, monthly_partitions)
    try:
        files = {w.start: read_returns(inbox, w.start) for w in windows}  # file faults raise here
        with warehouse.get_connection() as conn:
            prepare_tables(conn)
            ingested = store_returns(conn, start, end, windows, files, config, context.log.info)
    except ReturnsFileError:
        # The file is refused, but the opt-outs it carries are honoured all the same.
        with warehouse.get_connection() as conn:
            if salvaged := honour_opt_outs_of_rejected(conn, inbox, [w.start for w in windows]):
                context.log_event(register_changed(conn, salvaged, "the OPT_OUT rows of a rejected returns file"))
        raise
    with warehouse.get_connection() as conn:
        # Each month's own figures and check results, also when one run ingests a range of months.
        metadata, checks = {}, {}
        for w in windows:
            accepted, faults, opted_out = ingested[w.key]
            outcomes = dict(conn.execute(
                f"SELECT outcome, count(*) FROM {RESPONSES_TABLE} WHERE sampling_month = ? GROUP BY ALL ORDER BY ALL",
                [w.start]).fetchall())
            unlinked = scalar(conn, f"""SELECT count(*) FROM {RESPONSES_TABLE} WHERE sampling_month = '{w.start}'
                AND (survey_strand IS NULL OR policing_area IS NULL OR design_weight IS NULL)""")
            metadata[w.key] = {
                "dagster/row_count": sum(outcomes.values()),
                "rows_accepted": accepted,
                "rows_quarantined": sum(faults.values()),
                "outcomes": MetadataValue.json(outcomes),
                "new_opt_outs": opted_out,
            }
            checks[w.key] = [
                AssetCheckResult(check_name=NO_QUARANTINED_ROWS, passed=not faults,
                                 severity=AssetCheckSeverity.WARN,
                                 metadata={"quarantined_by_reason": MetadataValue.json(faults)}),
                AssetCheckResult(check_name=EVERY_RESPONSE_LINKED, passed=unlinked == 0,
                                 metadata={"unlinked_responses": unlinked}),
            ]
        if opted_out_in_run := sum(n for _, _, n in ingested.values()):
            context.log_event(register_changed(conn, opted_out_in_run, "the contractor's returns (OPT_OUT)"))
    add_partition_metadata(context, metadata)
    yield MaterializeResult(metadata={"rows_accepted_in_run": sum(a for a, _, _ in ingested.values())})
    yield from check_events(context, "survey_responses", checks)


SQL_ASSETS = sql_assets("responses")  # the response marts (dbt_like_sql/marts/)
